"""TS — Trial Summary: one record per trial summary parameter value, from ``specs/trial/ts.csv``.

Nothing is written twice. A row with a ``derivation`` takes TSVAL from its source:

- ``study:<key>``: the value of ``<key>`` in specs/trial/study.yaml;
  ``study:<key>:count`` the number of its items, ``study:<key>:days`` the ISO 8601
  duration ``P<n>D``;
- ``DM.<VAR>:min``: the earliest complete date of ``<VAR>`` in the built DM (SSTDTC, the
  FDA study start date = first informed consent; a partial date cannot be a study start);
  ``DM.<VAR>:count`` the number of distinct non-blank values (ACTSUB = subjects in DM);
- ``nullflavor:<NF>``: no value, TSVALNF = ``<NF>``, an ISO 21090 null flavor (SDTMIG 3.4
  section 7.4.2: TSVALNF is populated if and only if TSVAL is null), e.g. SENDTC = NAV
  while the study is ongoing.

TSVALCD of a row with a ``codelist`` is the NCI code of TSVAL in that codelist (none for a
sponsor extension); TSVCDVER of a CDISC CT row is the CT
version of study.yaml. A ts.csv that contradicts itself or the CT raises ``ValueError``:
it is a specification error, not a data problem.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import meddra
from pipeline.dates import complete_date
from pipeline.sdtm.common import DomainResult, build_result, spec_lineage
from pipeline.specs.ct import load_ct, paired_value
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.study import Study, load_study

DOMAIN = "TS"
INPUTS = {"dm": ["sdtm", "dm"]}
TS_FILE = "specs/trial/ts.csv"
CDISC_CT = "CDISC CT"
NULL_FLAVOR = "nullflavor:"
# ISO 21090 NullFlavor enumeration (the terms TSVALNF may take).
ISO21090_NULL_FLAVORS = frozenset(
    {"NI", "INV", "DER", "OTH", "PINF", "NINF", "UNC", "MSK", "NA", "UNK", "ASKU", "NAV", "NASK", "QS", "TRC", "NP"}
)


def _text(value: object) -> str:
    """A study.yaml value as TSVAL text: whole numbers without a decimal part."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _from_study(study: Study, key: str, op: str, where: str) -> str:
    if not hasattr(study, key):
        raise ValueError(f"{where}: study.yaml has no key {key!r}")
    value = getattr(study, key)
    if op == "":
        return _text(value)
    if op == "count":
        return str(len(value))
    if op == "days":
        return f"P{int(value)}D"
    raise ValueError(f"{where}: unknown operation {op!r} for study:{key}")


def _from_dm(dm: pd.DataFrame, var: str, op: str, where: str) -> str | None:
    if var not in dm.columns:
        raise ValueError(f"{where}: DM has no variable {var!r}")
    col = dm[var]
    if op == "min":
        first = complete_date(col).min()
        return None if pd.isna(first) else first.strftime("%Y-%m-%d")
    if op == "count":
        return str(col[col.notna() & col.astype(str).ne("")].nunique())
    raise ValueError(f"{where}: unknown operation {op!r} for DM.{var}")


def derive_value(derivation: str, study: Study, dm: pd.DataFrame, where: str) -> str | None:
    """TSVAL of a ts.csv ``derivation`` (``study:<key>[:count|:days]`` or ``DM.<VAR>:min|count``)."""
    if derivation.startswith("study:"):
        key, _, op = derivation.removeprefix("study:").partition(":")
        return _from_study(study, key, op, where)
    if derivation.startswith("DM."):
        var, _, op = derivation.removeprefix("DM.").partition(":")
        return _from_dm(dm, var, op, where)
    if derivation == "meddra:version":  # the MedDRA version the AEs were coded with
        return meddra.dictionary_version()
    raise ValueError(f"{where}: unknown derivation {derivation!r}")


def load_ts_rows() -> pd.DataFrame:
    """specs/trial/ts.csv as text ('' for blank), with its line number in ``_row``."""
    rows = pd.read_csv(SPECS_DIR / "trial" / "ts.csv", dtype=str, keep_default_na=False)
    rows["_row"] = np.arange(2, len(rows) + 2)
    return rows


def build(dm: DomainResult) -> DomainResult:
    """TS from specs/trial/ts.csv; derived values from study.yaml and the built DM."""
    study = load_study()
    ct = load_ct()
    rows = load_ts_rows()
    where = TS_FILE + ":" + rows["_row"].astype(str) + " " + rows["TSPARMCD"]

    # The file itself must be consistent: one source per value, TSPARM paired with TSPARMCD.
    both = rows["TSVAL"].ne("") & rows["derivation"].ne("")
    if both.any():
        raise ValueError(f"{', '.join(where[both])}: TSVAL written and derived (nothing is written twice)")
    paired = rows["TSPARMCD"].map(lambda cd: paired_value(ct, "TSPARMCD", "TSPARM", cd))
    unpaired = paired.ne(rows["TSPARM"])
    if unpaired.any():
        raise ValueError(f"{', '.join(where[unpaired])}: TSPARM is not the CDISC name paired with TSPARMCD")

    # No value: a null flavor says why (and only then is TSVAL null).
    flavored = rows["derivation"].str.startswith(NULL_FLAVOR)
    tsvalnf = rows["derivation"].where(flavored).str.removeprefix(NULL_FLAVOR).astype(object)
    unknown_nf = flavored & ~tsvalnf.isin(ISO21090_NULL_FLAVORS)
    if unknown_nf.any():
        raise ValueError(f"{', '.join(where[unknown_nf])}: not an ISO 21090 null flavor")
    no_value = rows["TSVAL"].eq("") & rows["derivation"].eq("")
    if no_value.any():
        raise ValueError(f"{', '.join(where[no_value])}: no TSVAL, derivation or null flavor (TSVAL is null only with TSVALNF)")

    # Derived values: a handful of rows, one source each.
    derived = rows["derivation"].ne("") & ~flavored
    tsval = rows["TSVAL"].astype(object)
    tsval[derived] = [derive_value(d, study, dm.data, w) for d, w in zip(rows.loc[derived, "derivation"], where[derived])]
    tsval[flavored] = None

    # Coded values: the NCI code of TSVAL in the row's codelist.
    coded = rows["codelist"].ne("")
    not_cdisc = coded & rows["TSVCDREF"].ne(CDISC_CT)
    if not_cdisc.any():
        raise ValueError(f"{', '.join(where[not_cdisc])}: a codelist row must have TSVCDREF = {CDISC_CT}")
    terms = [ct[cl].term(v) if cl in ct else None for cl, v in zip(rows.loc[coded, "codelist"], tsval[coded])]
    missing = [w for w, t in zip(where[coded], terms) if t is None]
    if missing:
        raise ValueError(f"{', '.join(missing)}: TSVAL is not a term of the row's codelist")
    tsvalcd = rows["TSVALCD"].astype(object)
    tsvalcd[coded] = [t.code for t in terms if t is not None]  # none missing: checked above

    out = pd.DataFrame(index=rows.index)
    out["STUDYID"] = study.studyid
    out["DOMAIN"] = "TS"
    out["TSSEQ"] = rows.groupby("TSPARMCD", sort=False).cumcount() + 1
    out["TSPARMCD"] = rows["TSPARMCD"]
    out["TSPARM"] = rows["TSPARM"]
    out["TSVAL"] = tsval
    out["TSVALNF"] = tsvalnf.where(flavored, None)
    out["TSVALCD"] = tsvalcd
    out["TSVCDREF"] = rows["TSVCDREF"]
    out["TSVCDVER"] = rows["TSVCDVER"].where(rows["TSVCDREF"].ne(CDISC_CT), study.ct_version)
    spec_lineage(out, TS_FILE, rows["_row"])
    return build_result(out, "ts")
