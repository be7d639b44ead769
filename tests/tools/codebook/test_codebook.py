"""The code book: lookups, coverage of every code the demo can emit, and the CMS-derived HCPCS data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.codebook import CodeBook, CodeEntry
from tools.codebook.build_hcpcs import DEFAULT_OUT, SELECTED_CODES, build, main
from tools.demo import generate_practice
from tools.demo.reference import FEES
from tools.demo.scenarios import DENIALS, PARTIAL_DENIALS
from tools.errors import ConfigurationError

BOOK = CodeBook.default()
REPO = Path(__file__).resolve().parents[3]
CMS_FILE_NAME = "cms-hcpcs/HCPC2019_CONTR_ANWEB.txt"
TOP_CARCS = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "11",
    "16",
    "18",
    "22",
    "23",
    "24",
    "26",
    "27",
    "29",
    "31",
    "39",
    "45",
    "50",
    "51",
    "55",
    "56",
    "58",
    "59",
    "89",
    "96",
    "97",
    "109",
    "119",
    "129",
    "140",
    "146",
    "167",
    "170",
    "181",
    "185",
    "197",
    "198",
    "204",
    "242",
    "252",
    "253",
]
COMMON_RARCS = ("N130", "N115", "M15", "MA130", "N381", "M86", "N290", "N479", "MA01", "N20")


def _cms_file() -> Path | None:
    for root in (Path("/work/shared/vendor"), REPO.parent / "shared" / "vendor", REPO / "shared" / "vendor"):
        if (root / CMS_FILE_NAME).exists():
            return root / CMS_FILE_NAME
    return None


@pytest.mark.parametrize(
    ("query", "kind", "code"),
    [
        ("99213", "cpt", "99213"),
        ("99213-25", "cpt", "99213"),
        ("20610 RT", "cpt", "20610"),
        ("g0439", "hcpcs", "G0439"),
        ("CO-45", "carc", "45"),
        ("PR 204", "carc", "204"),
        ("45", "carc", "45"),
        ("N130", "rarc", "N130"),
        ("MA130", "rarc", "MA130"),
        ("M15", "rarc", "M15"),
        ("CO", "group", "CO"),
        ("pi", "group", "PI"),
    ],
)
def test_lookup_resolves_every_form(query: str, kind: str, code: str) -> None:
    entry = BOOK.lookup(query)
    assert entry is not None
    assert (entry.kind, entry.code) == (kind, code)
    assert entry.title
    assert entry.plain


def test_kind_disambiguates_and_unknown_codes_are_none() -> None:
    assert BOOK.lookup("45", kind="carc") == BOOK.carc("CO-45")
    assert BOOK.lookup("45", kind="rarc") is None
    assert BOOK.lookup("00000") is None
    assert BOOK.lookup("hello") is None
    assert BOOK.procedure("N130") is None
    assert BOOK.rarc("n130") == BOOK.lookup("N130")
    assert BOOK.group("PR") is not None


def test_default_is_loaded_once() -> None:
    assert CodeBook.default() is CodeBook.default()


def test_required_carcs_rarcs_and_groups_are_explained() -> None:
    assert [c for c in TOP_CARCS if BOOK.carc(c) is None] == []
    assert [c for c in COMMON_RARCS if BOOK.rarc(c) is None] == []
    assert BOOK.codes("group") == {"CO", "PR", "OA", "PI"}


def _in_spanish(entry: CodeEntry | None) -> bool:
    return entry is not None and bool(entry.plain_es) and bool(entry.next_step_es)


def test_every_adjustment_reason_remark_and_group_is_written_in_spanish_too() -> None:
    # A Spanish-speaking patient hears why a line was adjusted in Spanish (agent/nodes/statements.py).
    for kind in ("carc", "rarc", "group"):
        missing = [code for code in BOOK.codes(kind) if not _in_spanish(BOOK.lookup(code, kind))]
        assert missing == [], kind
    deductible = BOOK.carc("1")
    assert deductible is not None
    assert deductible.plain_in("es") == deductible.plain_es != deductible.plain_in("en") == deductible.plain
    assert deductible.next_step_in("es") == deductible.next_step_es
    # Procedure codes have English text only: Spanish asks fall back to it.
    office_visit = BOOK.procedure("99213")
    assert office_visit is not None
    assert office_visit.plain_in("es") == office_visit.plain


def test_every_code_the_generator_can_emit_has_an_entry() -> None:
    procedures = set(FEES)
    adjustments = {(g, c, r) for g, c, r in DENIALS + PARTIAL_DENIALS}
    for seed in (1, 2, 3):
        data = generate_practice(150, seed)
        for st in data.statements:
            for li in st.line_items:
                procedures.add(li.code)
                adjustments.update((a.group_code.value, a.carc, a.rarc) for a in li.adjustments)
        for cl in data.claims:
            adjustments.update((d.group_code.value, d.carc, d.rarc) for d in cl.denial_codes)
    assert sorted(c for c in procedures if BOOK.procedure(c) is None) == []
    assert sorted(g for g, _, _ in adjustments if BOOK.group(g) is None) == []
    assert sorted(c for _, c, _ in adjustments if BOOK.carc(c) is None) == []
    assert sorted(r for _, _, r in adjustments if r is not None and BOOK.rarc(r) is None) == []
    assert {"MA18", "N381", "M86", "N115"} <= {r for _, _, r in adjustments if r}


def test_cpt_entries_are_our_own_plain_language() -> None:
    for code in BOOK.codes("cpt"):
        entry = BOOK.procedure(code)
        assert entry is not None
        assert entry.official is None
        assert len(entry.plain) < 240, code  # short patient text, not a code-set descriptor
        assert "\n" not in entry.plain


def test_hcpcs_entries_carry_the_official_text_when_cms_has_it() -> None:
    g0439 = BOOK.procedure("G0439")
    assert g0439 is not None
    assert g0439.official is not None
    assert g0439.official.startswith("Annual wellness visit")
    g2211 = BOOK.procedure("G2211")  # newer than the 2019 file: our own text only
    assert g2211 is not None
    assert g2211.official is None
    l3908 = BOOK.procedure("L3908")  # no text of ours: CMS's description stands in
    assert l3908 is not None
    assert l3908.plain == l3908.official


def test_shipped_json_is_small_and_lists_the_selected_codes() -> None:
    assert DEFAULT_OUT.stat().st_size < 200_000
    doc = json.loads(DEFAULT_OUT.read_text("utf-8"))
    assert set(doc["codes"]) | set(doc["missing_from_source"]) == set(SELECTED_CODES)
    used_hcpcs = {c for c in FEES if c[0].isalpha()} - {"G2211"}
    assert used_hcpcs <= set(doc["codes"])


def test_shipped_json_matches_the_cms_file(tmp_path: Path) -> None:
    cms = _cms_file()
    if cms is None:
        pytest.skip("CMS HCPCS file not found under /work/shared/vendor or ../shared/vendor")
    shipped = json.loads(DEFAULT_OUT.read_text("utf-8"))
    assert build(cms) == shipped
    # an independent reading of the fixed-width layout: code 1-5, record id 11, long 12-91, short 92-119
    raw = cms.read_text("latin-1").splitlines()
    for code, desc in shipped["codes"].items():
        records = [r for r in raw if r[:5] == code.ljust(5) and len(r) > 100 and r[10] in "34"]
        assert records[0][10] == "3"
        assert desc["short"] == records[0][91:119].strip()
        assert desc["long"] == " ".join(r[11:91].strip() for r in records)
    out = tmp_path / "hcpcs.json"
    assert main([str(cms), "--out", str(out)]) == 0
    assert json.loads(out.read_text("utf-8")) == shipped


def test_bad_code_book_files_are_configuration_errors(tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[3] / "tools" / "codebook" / "data"
    for name in ("cpt.yaml", "hcpcs.yaml", "carc.yaml", "rarc.yaml", "groups.yaml"):
        (tmp_path / name).write_text((data / name).read_text("utf-8"), "utf-8")
    assert CodeBook.from_dir(tmp_path).procedure("99213") is not None
    (tmp_path / "carc.yaml").write_text('"45": {title: x}\n', "utf-8")
    with pytest.raises(ConfigurationError, match="45"):
        CodeBook.from_dir(tmp_path)
    (tmp_path / "carc.yaml").write_text('"45": {title: x, plain: y, plain_es: [z]}\n', "utf-8")
    with pytest.raises(ConfigurationError, match="plain_es"):
        CodeBook.from_dir(tmp_path)
    (tmp_path / "carc.yaml").write_text("[unclosed\n", "utf-8")
    with pytest.raises(ConfigurationError, match="YAML"):
        CodeBook.from_dir(tmp_path)
