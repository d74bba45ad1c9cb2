"""SE — Subject Elements: the dates bounding each subject's SCRN, SORA and FU elements.

EPOCH in every other domain is looked up here (``common.epoch_from_se``), so a reviewer
can re-derive it. Rules in specs/sdtm/se.yaml; elements and arms in specs/trial/te.csv, ta.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.dates import complete_date, study_day
from pipeline.imputation import possible_range
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq
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
    lineage = carry_lineage(pd.DataFrame(index=d.index), with_usubjid(enrol.data).drop_duplicates("USUBJID").set_index("USUBJID"))

    scrn = pd.DataFrame({"ETCD": "SCRN", "SESTDTC": d["RFSTDTC"], "SEENDTC": d["RFXSTDTC"].where(dosed, enr)})
    # An open last dosing period has no end, unless the subject died: then it ends with participation.
    sora_end = _next_day(d["RFXENDTC"]).where(d["RFXENDTC"].notna(), d["RFPENDTC"].where(d["DTHDTC"].notna()))
    sora = pd.DataFrame({"ETCD": "SORA", "SESTDTC": d["RFXSTDTC"], "SEENDTC": sora_end})[dosed]
    fu_start = pd.Series(np.where(dosed, _next_day(d["RFXENDTC"]), enr), index=d.index).where(~dosed | d["RFXENDTC"].notna())
    fu = pd.DataFrame({"ETCD": "FU", "SESTDTC": fu_start, "SEENDTC": d["RFPENDTC"]})[fu_start.notna()]
    elements = pd.concat([scrn, sora, fu])
    # Nothing runs past the end of participation (which is never after death, see DM): an element
    # starting after RFPENDTC is not created (participation ended on the last dose: no FU), and one
    # ending after it ends at RFPENDTC (SORA then ends on the last dose day, not the day after).
    end_part = elements.index.map(d["RFPENDTC"]).to_series(index=elements.index)
    _, part_hi = possible_range(end_part)
    starts_after = (complete_date(elements["SESTDTC"]) > part_hi) & elements["ETCD"].ne("SCRN")
    elements = elements[~starts_after]
    end_part, part_hi = end_part[~starts_after], part_hi[~starts_after]
    elements["SEENDTC"] = elements["SEENDTC"].where(~(complete_date(elements["SEENDTC"]) > part_hi), end_part)
    out = elements.rename_axis("USUBJID").reset_index()
    out = out.join(lineage, on="USUBJID")

    arms = d["ARMCD"].reindex(out["USUBJID"]).to_numpy()
    out["ARMCD"] = arms
    out = out.merge(ta[["ARMCD", "ETCD", "TAETORD", "EPOCH"]], on=["ARMCD", "ETCD"], how="left")
    out = out.merge(te[["ETCD", "ELEMENT"]], on="ETCD", how="left")
    out["TAETORD"] = pd.to_numeric(out["TAETORD"])
    out["STUDYID"] = d["STUDYID"].iloc[0] if len(d) else None
    out["DOMAIN"] = "SE"
    ref = d["RFSTDTC"].reindex(out["USUBJID"]).set_axis(out.index)
    out["SESTDY"] = study_day(out["SESTDTC"], ref)
    out["SEENDY"] = study_day(out["SEENDTC"], ref)
    out = derive_seq(out, "SESEQ", ["SESTDTC", "TAETORD"])
    return build_result(out, "se", seq_var="SESEQ")
