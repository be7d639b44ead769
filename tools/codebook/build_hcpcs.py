"""Build ``tools/codebook/data/hcpcs.json`` from CMS's alpha-numeric HCPCS file.

Usage::

    python -m tools.codebook.build_hcpcs /path/to/HCPC2019_CONTR_ANWEB.txt [--out PATH]

The CMS file is fixed-width latin-1, one 320-character record per line:

=========  =====  ===========================================================
columns    width  field
=========  =====  ===========================================================
1-5        5      HCPCS code (modifiers are two characters, space padded)
6-10       5      sequence number (00100 first line, 00200 continuation, ...)
11         1      record id: 3 procedure, 4 procedure continuation,
                  7 modifier, 8 modifier continuation
12-91      80     long description (continued on the 4/8 records)
92-119     28     short description (first record only)
=========  =====  ===========================================================

Only the codes in ``SELECTED_CODES`` are written, to keep the JSON small. The
descriptions are CMS's official text, a US government work in the public domain.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "hcpcs.json"
SOURCE_NAME = "CMS 2019 Alpha-Numeric HCPCS file (HCPC2019_CONTR_ANWEB.txt), public domain"

# Codes our demo practice bills (tools/demo) plus common primary-care Level II
# codes. G2211 is billed by the demo but did not exist in 2019: the code book
# carries our own text for it.
SELECTED_CODES: tuple[str, ...] = (
    # supplies
    "A4206", "A4215", "A4450", "A4550", "A4565", "A4570", "A4580", "A4590", "A4649", "A6216",
    "A6402", "A7003", "A9150", "A9270",
    # durable medical equipment and orthotics
    "E0100", "E0105", "E0110", "E0114", "E0130", "E0135", "E0143", "E0607", "E0570",
    "L1810", "L1820", "L1830", "L1902", "L3260", "L3908", "L4350", "L4360", "L4361",
    # Medicare preventive and administrative services
    "G0008", "G0009", "G0010", "G0101", "G0102", "G0103", "G0104", "G0105", "G0121",
    "G0402", "G0403", "G0438", "G0439", "G0442", "G0443", "G0444", "G0445", "G0446", "G0447",
    "G0463", "G0468", "G0473", "G0476", "G0498", "G0500", "G0506", "G0511", "G0513", "G0514",
    # drugs given in the office
    "J0129", "J0171", "J0290", "J0561", "J0696", "J0702", "J1030", "J1040", "J1050", "J1071",
    "J1100", "J1200", "J1885", "J1940", "J2001", "J2250", "J2405", "J2550", "J2930", "J3301",
    "J3420", "J7030", "J7040", "J7050", "J7120", "J7298", "J7300", "J7301", "J7307", "J7321",
    "J7613", "J7620", "J8499", "J9999",
    # temporary codes
    "Q0091", "Q0092", "Q2035", "Q2036", "Q2037", "Q2038", "Q4001", "Q4005", "Q4010",
    "S0610", "S0612", "S9083", "S9088",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HcpcsRecord:
    code: str
    short: str
    long: str


def parse_records(lines: Iterable[str]) -> Iterator[HcpcsRecord]:
    """Procedure records (ids 3 and 4) of a CMS HCPCS file, continuation lines joined."""
    code: str | None = None
    short = ""
    parts: list[str] = []
    for line in lines:
        if len(line) < 92 or line[10] not in "34":
            continue
        this_code = line[0:5].strip()
        text = line[11:91].strip()
        if line[10] == "3":
            if code is not None:
                yield HcpcsRecord(code, short, " ".join(parts))
            code, short, parts = this_code, line[91:119].strip(), [text]
        elif this_code == code and text:
            parts.append(text)
    if code is not None:
        yield HcpcsRecord(code, short, " ".join(parts))


def read_cms_file(path: Path) -> dict[str, HcpcsRecord]:
    with path.open(encoding="latin-1", newline="") as fh:
        return {r.code: r for r in parse_records(line.rstrip("\r\n") for line in fh)}


def build(path: Path, codes: Iterable[str] = SELECTED_CODES) -> dict[str, object]:
    records = read_cms_file(path)
    wanted = sorted(set(codes))
    missing = [c for c in wanted if c not in records]
    return {
        "source": SOURCE_NAME,
        "missing_from_source": missing,
        "codes": {c: {"short": records[c].short, "long": records[c].long} for c in wanted if c in records},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("cms_file", type=Path, help="CMS alpha-numeric HCPCS fixed-width file")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output JSON (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    data = build(args.cms_file)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")
    codes = data["codes"]
    assert isinstance(codes, dict)
    print(f"wrote {len(codes)} codes to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
