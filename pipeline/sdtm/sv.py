"""SV — Subject Visits: one record per visit each subject actually had (rules in specs/sdtm/sv.yaml).

A visit is every distinct (USUBJID, VISITNUM) of the Findings domains, whose VISITNUM/VISIT all
come from one rule (``pipeline/sdtm/visits.assign_visits``). SVSTDTC/SVENDTC are the earliest and
latest complete date of the visit's records (--DTC, or --RFTDTC for an undated pre-operative
record). Planned visits have SVPRESP = SVOCCUR = Y; an unscheduled visit has both null and
SVUPDES says what it was. Missed planned visits are not represented (no form records them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import stack
from pipeline.dates import complete_date, study_day
from pipeline.sdtm.common import DomainResult, build_result
from pipeline.sdtm.subjects import dm_reference
from pipeline.sdtm.visits import schedule

DOMAIN = "SV"
SOURCES = ["lb", "rs", "is", "mb", "mi", "tu", "tr", "ss"]
INPUTS = {"dm": ["sdtm", "dm"], **{f"{d}_": ["sdtm", d] for d in SOURCES}}
UNPLANNED_SS = "Survival status contact"  # an unscheduled visit with SS records only


def _visit_dates(data: pd.DataFrame) -> pd.DataFrame:
    """USUBJID, VISITNUM, VISIT, the record's date (--DTC, else --RFTDTC) and DOMAIN of one domain's records."""
    dom = str(data["DOMAIN"].iloc[0])
    dtc = data[f"{dom}DTC"].astype(object)
    if f"{dom}RFTDTC" in data.columns:
        dtc = dtc.where(dtc.notna(), data[f"{dom}RFTDTC"].astype(object))
    out = pd.DataFrame(
        {
            "USUBJID": data["USUBJID"].astype(object),
            "VISITNUM": data["VISITNUM"],
            "VISIT": data["VISIT"].astype(object),
            "_date": complete_date(dtc),
            "_dom": dom,
        }
    )
    return out[out["VISITNUM"].notna()]


def build(dm: DomainResult, **domains: DomainResult) -> DomainResult:
    """SV from the visits of the Findings domains; SVSTDY/SVENDY from DM.RFSTDTC, VISITDY from TV."""
    parts = [_visit_dates(r.data) for r in domains.values() if len(r.data)]
    rec = stack(parts, ignore_index=True) if parts else pd.DataFrame(columns=["USUBJID", "VISITNUM", "VISIT", "_date", "_dom"])
    rec["_ss"] = rec["_dom"].eq("SS")
    g = rec.groupby(["USUBJID", "VISITNUM"], sort=True)
    out = g.agg(VISIT=("VISIT", "first"), _st=("_date", "min"), _en=("_date", "max"), _ss=("_ss", "all")).reset_index()
    tv = schedule()
    planned = out["VISITNUM"].isin(tv["VISITNUM"])
    # The domains of an unscheduled visit that is not only a survival contact (few: named one by one).
    only_ss = rec.groupby(["USUBJID", "VISITNUM"])["_ss"].transform("all")
    other = rec[~rec["VISITNUM"].isin(tv["VISITNUM"]) & ~only_ss].drop_duplicates(["USUBJID", "VISITNUM", "_dom"])
    doms = other.sort_values("_dom").groupby(["USUBJID", "VISITNUM"], as_index=False)["_dom"].agg(", ".join)
    doms = out[["USUBJID", "VISITNUM"]].merge(doms, on=["USUBJID", "VISITNUM"], how="left")["_dom"]
    out["STUDYID"] = dm.data["STUDYID"].iloc[0] if len(dm.data) else None
    out["DOMAIN"] = "SV"
    out["SVPRESP"] = np.where(planned, "Y", None)  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["SVOCCUR"] = np.where(planned, "Y", None)  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["VISITDY"] = out["VISITNUM"].map(tv.set_index("VISITNUM")["VISITDY"])
    out["SVSTDTC"] = out["_st"].dt.strftime("%Y-%m-%d").where(out["_st"].notna(), None)
    out["SVENDTC"] = out["_en"].dt.strftime("%Y-%m-%d").where(out["_en"].notna(), None)
    ref = dm_reference(dm).set_index("USUBJID")["RFSTDTC"].reindex(out["USUBJID"]).set_axis(out.index)
    out["SVSTDY"] = study_day(out["SVSTDTC"], ref)
    out["SVENDY"] = study_day(out["SVENDTC"], ref)
    described = np.where(
        out["_ss"],
        UNPLANNED_SS,
        "Assessment outside the visit schedule (" + pd.Series(doms.to_numpy(), index=out.index).astype(str) + ")",
    )
    out["SVUPDES"] = pd.Series(described, index=out.index, dtype=object).where(~planned, None)
    return build_result(out, "sv", derived=True)  # from SDTM records: no raw row of its own
