"""The practice knowledge base: plain-language billing documents and their search."""

from tools.kb.knowledge import DEFAULT_DOCS_DIR, KnowledgeBase, Passage, parse_markdown, query_terms

__all__ = ["DEFAULT_DOCS_DIR", "KnowledgeBase", "Passage", "parse_markdown", "query_terms"]
