#!/usr/bin/env python3
"""Extract the CDISC SDTM controlled terminology the specs use into ``specs/ct/sdtm_ct.csv``.

Usage::

    python tools/extract_ct.py path/to/sdtm-terminology-2025-03-28.tar.xz \
        [--out specs/ct/sdtm_ct.csv]

The tarball is the NCI-EVS publication of CDISC SDTM terminology (``SDTM Terminology.txt``,
tab separated: Code, Codelist Code, Codelist Extensible (Yes/No), Codelist Name, CDISC
Submission Value, CDISC Synonym(s), CDISC Definition, NCI Preferred Term; a row with an
empty Codelist Code is a codelist, the rows under it are its terms).

``CODELISTS`` below is the list of codelists the SDTM specs refer to (by short name, the
codelist's CDISC Submission Value). ``None`` keeps every term (small codelists); a tuple keeps
only the terms the study uses (huge extensible codelists such as UNIT, LOC, METHOD, LBTESTCD),
an empty tuple keeps the codelist header only (a CDISC codelist the study extends with
sponsor terms from ``specs/ct/sponsor_ct.csv``). The output depends only on the tarball and on
this list, so the same release always gives the same file. The project never reads the tarball
at run time.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tarfile
from pathlib import Path

OUT_COLUMNS = [
    "codelist",
    "codelist_code",
    "codelist_name",
    "extensible",
    "submission_value",
    "term_code",
    "nci_preferred_term",
]

# fmt: off
CODELISTS: dict[str, tuple[str, ...] | None] = {
    # --- identifiers, demography, general -------------------------------------------------
    "DOMAIN": None,            # SDTM domain abbreviations (DOMAIN, RDOMAIN)
    "NY": None,
    "SEX": None,
    "RACE": None,
    "ETHNIC": None,
    "AGEU": None,
    "ARMNULRS": None,
    "EPOCH": None,
    "EVAL": None,
    "ND": None,
    "NRIND": None,
    "RELTYPE": None,
    "STENRF": None,            # --ENRTPT (ONGOING)
    "DICTNAM": None,
    # --- events -------------------------------------------------------------------------------
    "ACN": None,
    "OUT": None,
    "DSCAT": None,
    "NCOMPLT": None,
    "PROTMLST": None,
    # --- interventions ------------------------------------------------------------------------
    "ROUTE": ("ORAL",),
    "FRM": ("TABLET, FILM COATED",),
    "FREQ": ("QD", "BID", "QOD"),
    "UNIT": ("mg", "mm", "cm", "10^9/L", "g/L", "g/dL", "U/L", "umol/L", "mg/dL", "ug/L", "IU/mL"),
    # --- findings -----------------------------------------------------------------------------
    "LBTESTCD": ("WBC", "HGB", "PLAT", "ALT", "AST", "CREAT", "BILI", "ALB", "AFP"),
    "LBTEST": ("Leukocytes", "Hemoglobin", "Platelets", "Alanine Aminotransferase",
               "Aspartate Aminotransferase", "Creatinine", "Bilirubin", "Albumin",
               "Alpha Fetoprotein"),
    "SPECTYPE": ("BLOOD", "SERUM", "TISSUE"),
    "MBTESTCD": ("HBSAG",),
    "MBTEST": ("Hepatitis B Virus Surface Antigen",),
    "ISTESTCD": ("MBAB",),
    "ISTEST": ("Microbial-induced Antibody",),
    "MICROORG": ("HEPATITIS C VIRUS",),
    "MITSCD": ("VASINV", "OVLTGRD"),
    "MITS": ("Vascular Invasion", "Overall Tumor Grade"),
    "MIFTSDTL": (),            # extended by the sponsor (EDMONDSON-STEINER GRADE)
    "LOC": ("LIVER", "LUNG", "BONE", "LYMPH NODE", "PERITONEUM", "ADRENAL GLAND",
            # Couinaud segments I..VIII of intrahepatic recurrences (raw LIVSEG S1..S8)
            "LIVER, CAUDATE LOBE",
            "LIVER, LEFT LOBE POSTEROLATERAL SEGMENT",
            "LIVER, LEFT LOBE ANTEROLATERAL SEGMENT",
            "LIVER, LEFT LOBE MEDIAL SEGMENT",
            "LIVER, RIGHT LOBE ANTEROINFERIOR SEGMENT",
            "LIVER, RIGHT LOBE POSTEROINFERIOR SEGMENT",
            "LIVER, RIGHT LOBE POSTEROSUPERIOR SEGMENT",
            "LIVER, RIGHT LOBE ANTEROSUPERIOR SEGMENT"),
    "METHOD": ("CT SCAN", "MRI", "ULTRASOUND"),
    # oncology: tumour identification, tumour results, disease response, clinical classifications
    "TUTESTCD": None,
    "TUTEST": None,
    "TUIDRS": None,
    "TRTESTCD": ("LDIAM",),
    "TRTEST": ("Longest Diameter",),
    "ONCRTSCD": None,
    "ONCRTS": None,
    "ONCRSR": ("NED", "RELAPSED DISEASE"),
    "ONCRSCAT": (),            # extended by the sponsor (protocol-defined recurrence criteria)
    "CCCAT": ("AJCC V7", "CHILD-PUGH CLASSIFICATION", "ECOG"),
    "ECOG1TC": None,
    "ECOG1TN": None,
    "CPS01TC": None,
    "CPS01TN": None,
    "AJCC1TC": None,
    "AJCC1TN": None,
    "IECAT": None,
    # subject status and death details
    "SSTESTCD": None,
    "SSTEST": None,
    "SSTATRS": None,
    "DTHDXCD": None,
    "DTHDX": None,
    # --- trial design (TS parameters and their response codelists) -----------------------------
    "TSPARMCD": None,
    "TSPARM": None,
    "TPHASE": None,
    "TTYPE": None,
    "TBLIND": None,
    "TCNTRL": None,
    "INTMODEL": None,
    "INTTYPE": None,
    "STYPE": None,
    "SEXPOP": None,
    "TINDTP": None,
}
# fmt: on


def read_terminology(tarball: Path) -> list[list[str]]:
    """Rows (without header) of ``SDTM Terminology.txt`` inside ``tarball``."""
    with tarfile.open(tarball, "r:*") as tar:
        member = next(
            (m for m in tar.getmembers() if m.isfile() and m.name.endswith("SDTM Terminology.txt")),
            None,
        )
        if member is None:
            raise SystemExit(f"{tarball}: no 'SDTM Terminology.txt' inside")
        raw = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
    rows = list(csv.reader(io.StringIO(raw), delimiter="\t"))
    header, body = rows[0], rows[1:]
    if header[:5] != ["Code", "Codelist Code", "Codelist Extensible (Yes/No)", "Codelist Name", "CDISC Submission Value"]:
        raise SystemExit(f"{tarball}: unexpected header {header}")
    return [r for r in body if r]


def extract(rows: list[list[str]], wanted: dict[str, tuple[str, ...] | None]) -> list[dict[str, str]]:
    codelists = {r[4]: r for r in rows if r[1] == ""}
    terms: dict[str, list[list[str]]] = {}
    for r in rows:
        if r[1]:
            terms.setdefault(r[1], []).append(r)
    out: list[dict[str, str]] = []
    errors: list[str] = []
    for name, keep in wanted.items():
        cl = codelists.get(name)
        if cl is None:
            errors.append(f"codelist {name!r} not in this release")
            continue
        code, extensible, cl_name = cl[0], cl[2], cl[3]
        base = {"codelist": name, "codelist_code": code, "codelist_name": cl_name, "extensible": extensible}
        available = terms.get(code, [])
        if keep is None:
            chosen = available
        else:
            by_value = {t[4]: t for t in available}
            missing = [v for v in keep if v not in by_value]
            errors += [f"{name}: term {v!r} not in this release" for v in missing]
            chosen = [by_value[v] for v in keep if v in by_value]
        if not chosen:  # header-only codelist: extended by sponsor terms
            out.append({**base, "submission_value": "", "term_code": "", "nci_preferred_term": ""})
        for t in sorted(chosen, key=lambda t: t[4]):
            out.append({**base, "submission_value": t[4], "term_code": t[0], "nci_preferred_term": t[7]})
    if errors:
        raise SystemExit("\n".join(errors))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tarball", type=Path, help="sdtm-terminology-<date>.tar.xz")
    default_out = Path(__file__).resolve().parents[1] / "specs" / "ct" / "sdtm_ct.csv"
    ap.add_argument("--out", type=Path, default=default_out)
    args = ap.parse_args(argv)
    rows = extract(read_terminology(args.tarball), CODELISTS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=OUT_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    args.out.write_text(buf.getvalue(), encoding="utf-8")
    n_cl = len({r["codelist"] for r in rows})
    print(f"wrote {args.out}: {n_cl} codelists, {sum(1 for r in rows if r['submission_value'])} terms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
