"""The plain-language code book: what a procedure or adjustment code means for a patient.

Entries come from YAML files we wrote (``data/*.yaml``) and, for HCPCS Level II
codes we have no text of our own for, from CMS's official descriptions in
``data/hcpcs.json`` (public domain). CPT text is always ours: the official CPT
descriptors are AMA-copyrighted and never shipped.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, cast

import yaml

from tools.errors import ConfigurationError
from tools.yamlfile import load_yaml

CodeKind = Literal["cpt", "hcpcs", "carc", "rarc", "group"]
CODE_KINDS: tuple[CodeKind, ...] = ("cpt", "hcpcs", "carc", "rarc", "group")
GROUP_CODES: frozenset[str] = frozenset({"CO", "PR", "OA", "PI"})

_YAML_FILES: Mapping[CodeKind, str] = {
    "cpt": "cpt.yaml",
    "hcpcs": "hcpcs.yaml",
    "carc": "carc.yaml",
    "rarc": "rarc.yaml",
    "group": "groups.yaml",
}

_CPT = re.compile(r"^\d{4}[0-9FTU]$")
_HCPCS = re.compile(r"^[A-V]\d{4}$")
_CARC = re.compile(r"^(?:\d{1,3}|[ABPW]\d{1,2})$")
_RARC = re.compile(r"^(?:M\d{1,3}|MA\d{2,3}|N\d{1,3})$")
_GROUP_PREFIXED = re.compile(r"^(CO|PR|OA|PI)[\s\-]*([A-Z]?\d{1,3})$")
_PROCEDURE_WITH_MODIFIERS = re.compile(r"^([0-9A-V]\d{3}[0-9FTU])(?:[\s\-][0-9A-Z]{2})+$")


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One code explained for a patient. ``plain`` is never AMA CPT text."""

    code: str
    kind: CodeKind
    title: str
    plain: str
    next_step: str | None
    official: str | None = None  # CMS's long description, HCPCS Level II only (public domain)
    plain_es: str | None = None  # the same meaning in Spanish, our own words (adjustment codes)
    next_step_es: str | None = None

    def plain_in(self, language: str) -> str:
        """``plain`` in the patient's language (``"es"``), English where no Spanish text is written."""
        return self.plain_es if language == "es" and self.plain_es else self.plain

    def next_step_in(self, language: str) -> str | None:
        return self.next_step_es if language == "es" and self.next_step_es else self.next_step


class CodeBook:
    """Immutable lookup of procedure, adjustment-reason, remark and group codes."""

    def __init__(self, entries: Iterable[CodeEntry]) -> None:
        self._by_kind: dict[CodeKind, dict[str, CodeEntry]] = {k: {} for k in CODE_KINDS}
        for e in entries:
            self._by_kind[e.kind][e.code.upper()] = e

    # ---------------------------------------------------------------- construction
    @classmethod
    def default(cls) -> CodeBook:
        """The shipped code book, loaded once per process."""
        return _default_book()

    @classmethod
    def from_dir(cls, path: Path) -> CodeBook:
        """Load ``cpt.yaml``, ``hcpcs.yaml``, ``carc.yaml``, ``rarc.yaml``, ``groups.yaml`` and,
        when present, ``hcpcs.json`` from ``path``."""
        texts = {kind: _read(path / name) for kind, name in _YAML_FILES.items()}
        hcpcs_json = path / "hcpcs.json"
        official = _read(hcpcs_json) if hcpcs_json.exists() else None
        return cls(_entries(texts, official))

    # ---------------------------------------------------------------- lookups
    def lookup(self, code: str, kind: CodeKind | None = None) -> CodeEntry | None:
        """Find ``code`` of any kind: ``"99213"``, ``"99213-25"``, ``"G0439"``, ``"CO-45"``,
        ``"45"``, ``"N130"``, ``"CO"``. Pass ``kind`` to resolve a bare code explicitly."""
        raw = code.strip().upper()
        if kind is not None:
            return self._get(kind, _strip_modifiers(raw) if kind in ("cpt", "hcpcs") else raw)
        if raw in GROUP_CODES:
            return self._get("group", raw)
        prefixed = _GROUP_PREFIXED.match(raw)
        if prefixed:
            return self._get("carc", prefixed.group(2))
        if _RARC.match(raw):
            return self._get("rarc", raw)
        if _CARC.match(raw):
            return self._get("carc", raw)
        return self.procedure(raw)

    def carc(self, code: str) -> CodeEntry | None:
        """A Claim Adjustment Reason Code, bare (``"45"``) or with its group (``"CO-45"``)."""
        raw = code.strip().upper()
        prefixed = _GROUP_PREFIXED.match(raw)
        return self._get("carc", prefixed.group(2) if prefixed else raw)

    def rarc(self, code: str) -> CodeEntry | None:
        return self._get("rarc", code.strip().upper())

    def group(self, code: str) -> CodeEntry | None:
        return self._get("group", code.strip().upper())

    def procedure(self, code: str) -> CodeEntry | None:
        """A CPT or HCPCS Level II code; trailing modifiers (``"20610-RT"``) are ignored."""
        raw = _strip_modifiers(code.strip().upper())
        if _HCPCS.match(raw):
            return self._get("hcpcs", raw)
        if _CPT.match(raw):
            return self._get("cpt", raw)
        return None

    def codes(self, kind: CodeKind) -> frozenset[str]:
        """Every code of ``kind`` this book explains."""
        return frozenset(self._by_kind[kind])

    def _get(self, kind: CodeKind, code: str) -> CodeEntry | None:
        return self._by_kind[kind].get(code)


def _strip_modifiers(code: str) -> str:
    m = _PROCEDURE_WITH_MODIFIERS.match(code)
    return m.group(1) if m else code


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"code book file {path} cannot be read: {exc}") from exc


def _entries(texts: Mapping[CodeKind, str], official_json: str | None) -> list[CodeEntry]:
    official = _parse_official(official_json) if official_json is not None else {}
    out: list[CodeEntry] = []
    for kind, text in texts.items():
        try:
            doc = load_yaml(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"code book {kind} file is not valid YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise ConfigurationError(f"code book {kind} file must map codes to entries")
        for code, body in doc.items():
            out.append(_entry(kind, str(code), body, official.get(str(code).upper())))
    ours = {e.code for e in out if e.kind == "hcpcs"}
    for code, (short, long) in official.items():
        if code not in ours:
            out.append(CodeEntry(code, "hcpcs", short, long, None, official=long))
    return out


def _entry(kind: CodeKind, code: str, body: object, official: tuple[str, str] | None) -> CodeEntry:
    if not isinstance(body, dict):
        raise ConfigurationError(f"code book {kind} {code}: expected title/plain/next_step")
    fields = cast(dict[str, object], body)
    unknown = set(fields) - {"title", "plain", "next_step", "plain_es", "next_step_es"}
    title, plain = fields.get("title"), fields.get("plain")
    if unknown or not isinstance(title, str) or not isinstance(plain, str) or not title or not plain:
        raise ConfigurationError(f"code book {kind} {code}: needs non-empty title and plain text only")
    optional = {name: fields.get(name) for name in ("next_step", "plain_es", "next_step_es")}
    for name, value in optional.items():
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"code book {kind} {code}: {name} must be text or null")
    text = {
        name: " ".join(value.split()) if isinstance(value, str) and value else None
        for name, value in optional.items()
    }
    return CodeEntry(
        code=code.upper(),
        kind=kind,
        title=title.strip(),
        plain=" ".join(plain.split()),
        next_step=text["next_step"],
        official=official[1] if official else None,
        plain_es=text["plain_es"],
        next_step_es=text["next_step_es"],
    )


def _parse_official(text: str) -> dict[str, tuple[str, str]]:
    try:
        doc = json.loads(text)
        codes = doc["codes"]
        return {str(c).upper(): (str(v["short"]), str(v["long"])) for c, v in codes.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"hcpcs.json is malformed: {exc}") from exc


@functools.cache
def _default_book() -> CodeBook:
    data = resources.files("tools.codebook").joinpath("data")
    texts = {kind: data.joinpath(name).read_text(encoding="utf-8") for kind, name in _YAML_FILES.items()}
    return CodeBook(_entries(texts, data.joinpath("hcpcs.json").read_text(encoding="utf-8")))
