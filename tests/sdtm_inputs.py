"""Build raw-layer results (FormExtract) by hand, for SDTM tests that do not read files.

Values are given as the raw layer delivers them: canonical codes, ISO 8601 dates
(partial kept), numbers as numbers. Fields not given are blank.
"""

import pandas as pd

from pipeline.columns import TEXT
from pipeline.raw.extract import COUNT_COLS, QUARANTINE_COLS, FormExtract
from pipeline.specs.raw import load_raw_spec


def extract(form: str, rows: list[dict], site: str = "101") -> FormExtract:
    spec = load_raw_spec().forms[form]
    df = pd.DataFrame(rows, columns=spec.field_names)
    # The raw layer's dtypes: text, codes and dates as TEXT, integers Int64, floats float64.
    df = df.astype({f.name: {"integer": "Int64", "float": "float64"}.get(f.type, TEXT) for f in spec.fields})
    df["SITEID"] = df["SITEID"].fillna(site)
    df["_site"] = df["SITEID"]
    df["_file"] = [f"{s}/{form}.csv" for s in df["SITEID"]]
    df["_row"] = range(2, len(df) + 2)
    empty = pd.DataFrame(columns=QUARANTINE_COLS)
    return FormExtract(form, df, empty, pd.DataFrame(columns=COUNT_COLS), ())


def empty(form: str) -> FormExtract:
    return extract(form, [])


# --- the DM fixture most SDTM tests share --------------------------------------------------------------
#
# Two subjects of site 101, each enrolled after a hepatectomy:
#   101-001 SORAFENIB: consent 2018-01-20, enrolled 2018-01-22, hepatectomy 2018-01-10,
#           sorafenib 400 mg QD from 2018-01-25 to 2018-06-30;
#   101-002 CONTROL: consent 2018-02-10, enrolled 2018-02-12, hepatectomy 2018-02-01.
# Both born 1960-05-15, male. A test changes what its rule needs: ``{SUBJID: {FIELD: value}}`` sets
# fields of that subject's record (None blanks one), a SUBJID not in the pair adds a record after them.

SORAFENIB_SUBJECT, CONTROL_SUBJECT = "101-001", "101-002"
PAIR: dict[str, dict[str, dict]] = {
    "enrol": {
        SORAFENIB_SUBJECT: {"RFICDAT": "2018-01-20", "ENRLDAT": "2018-01-22", "TRTGRP": "SORAFENIB", "IEYN": "Y"},
        CONTROL_SUBJECT: {"RFICDAT": "2018-02-10", "ENRLDAT": "2018-02-12", "TRTGRP": "CONTROL", "IEYN": "Y"},
    },
    "dm": {s: {"BRTHDAT": "1960-05-15", "SEX": "M"} for s in (SORAFENIB_SUBJECT, CONTROL_SUBJECT)},
    "surg": {
        SORAFENIB_SUBJECT: {"PRSTDAT": "2018-01-10", "PRTRT": "ANATOMICAL HEPATECTOMY"},
        CONTROL_SUBJECT: {"PRSTDAT": "2018-02-01", "PRTRT": "ANATOMICAL HEPATECTOMY"},
    },
    "ex": {
        SORAFENIB_SUBJECT: {
            "EXTRT": "SORAFENIB",
            "EXSTDAT": "2018-01-25",
            "EXENDAT": "2018-06-30",
            "EXDOSE": 400.0,
            "EXDOSU": "mg",
            "EXDOSFRQ": "QD",
        }
    },
}


def pair_form(form: str, changes: dict[str, dict] | None = None, *, every: dict | None = None) -> FormExtract:
    """The pair's ``form`` (enrol, dm, surg or ex) with ``changes`` per SUBJID; ``every`` is set on every record."""
    records = {s: dict(r) for s, r in PAIR[form].items()}
    for subjid, fields in (changes or {}).items():
        records.setdefault(subjid, {}).update(fields)
    return extract(form, [{"SUBJID": s, **r, **(every or {})} for s, r in records.items()])


def pair(
    enrol: dict[str, dict] | None = None,
    demog: dict[str, dict] | None = None,
    surg: dict[str, dict] | None = None,
    ex: dict[str, dict] | None = None,
) -> tuple[FormExtract, FormExtract, FormExtract, FormExtract]:
    """The DM inputs of the pair (ENROL, DEMOG, SURG, EX), each with its ``changes`` (see ``pair_form``)."""
    return pair_form("enrol", enrol), pair_form("dm", demog), pair_form("surg", surg), pair_form("ex", ex)


def build_dm(
    enrol: FormExtract,
    demog: FormExtract,
    surg: FormExtract,
    ex: FormExtract | None = None,
    *,
    ds: FormExtract | None = None,
    surv: FormExtract | None = None,
    ta: FormExtract | None = None,
):
    """SDTM DM (a DomainResult) from raw-layer results; a form not given is empty."""
    from pipeline.sdtm import dm as dm_mod

    given = {"ex": ex, "ds": ds, "surv": surv, "ta": ta}
    ex, ds, surv, ta = (x if x is not None else empty(form) for form, x in given.items())
    return dm_mod.build(enrol, demog, surg, ex, ds, surv, ta)
