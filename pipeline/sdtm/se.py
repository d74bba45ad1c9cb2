"""SE — Subject Elements: the dates bounding each subject's SCRN, SORA and FU elements.

EPOCH in every other domain is looked up here (``common.epoch_from_se``), so a reviewer
can re-derive it. Rules in specs/sdtm/se.yaml; elements and arms in specs/trial/te.csv, ta.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.dates import complete_date, study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, derive_seq
from pipeline.sdtm.subjects import with_usubjid
from pipeline.specs.paths import SPECS_DIR

DOMAIN = "SE"
INPUTS = {"dm": ["sdtm", "dm"], "enrol": ["raw", "enrol"]}


def _next_day(dtc: pd.Series) -> pd.Series:
    return (complete_date(dtc) + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d")


def build(dm: DomainResult, enrol: FormExtract) -> DomainResult:
    """One record per element per DM subject."""
    te = pd.read_csv(SPECS_DIR / "trial" / "te.csv", dtype=str)
    ta = pd.read_csv(SPECS_DIR / "trial" / "ta.csv", dtype=str)
    d = dm.data.set_index("USUBJID")
    enr = with_usubjid(enrol.data).drop_duplicates("USUBJID").set_index("USUBJID")["ENRLDAT"].reindex(d.index)
    dosed = d["RFXSTDTC"].notna()
    lineage = with_usubjid(enrol.data).drop_duplicates("USUBJID").set_index("USUBJID")[["_file", "_row"]].reindex(d.index)

    scrn = pd.DataFrame({"ETCD": "SCRN", "SESTDTC": d["RFSTDTC"], "SEENDTC": d["RFXSTDTC"].where(dosed, enr)})
    sora = pd.DataFrame({"ETCD": "SORA", "SESTDTC": d["RFXSTDTC"], "SEENDTC": _next_day(d["RFXENDTC"]).where(d["RFXENDTC"].notna(), None)})[dosed]
    fu_start = pd.Series(np.where(dosed, _next_day(d["RFXENDTC"]), enr), index=d.index).where(~dosed | d["RFXENDTC"].notna())
    fu = pd.DataFrame({"ETCD": "FU", "SESTDTC": fu_start, "SEENDTC": d["RFPENDTC"]})[fu_start.notna()]
    out = pd.concat([scrn, sora, fu]).rename_axis("USUBJID").reset_index()
    out = out.join(lineage, on="USUBJID")

    arms = d["ARMCD"].reindex(out["USUBJID"]).to_numpy()
    out["ARMCD"] = arms
    out = out.merge(ta[["ARMCD", "ETCD", "TAETORD", "EPOCH"]], on=["ARMCD", "ETCD"], how="left")
    out = out.merge(te[["ETCD", "ELEMENT"]], on="ETCD", how="left")
    out["TAETORD"] = pd.to_numeric(out["TAETORD"])
    out["STUDYID"] = d["STUDYID"].iloc[0] if len(d) else None
    out["DOMAIN"] = "SE"
    out["SESTDY"] = study_day(out["SESTDTC"], d["RFSTDTC"].reindex(out["USUBJID"]).set_axis(out.index))
    out = derive_seq(out, "SESEQ", ["SESTDTC", "TAETORD"])
    return build_result(out, "se", seq_var="SESEQ")
