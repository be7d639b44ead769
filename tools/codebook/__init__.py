"""Plain-language code book: CPT, HCPCS Level II, CARC, RARC and group codes explained for patients."""

from tools.codebook.book import CODE_KINDS, GROUP_CODES, CodeBook, CodeEntry, CodeKind

__all__ = ["CODE_KINDS", "GROUP_CODES", "CodeBook", "CodeEntry", "CodeKind"]
