"""DM — Demographics: one record per enrolled subject.

Sponsor choices (also in specs/sdtm/dm.yaml): RFSTDTC is the date of hepatectomy for
both arms (the time origin of every endpoint; control subjects receive no study drug),
RFXSTDTC/RFXENDTC the first and last sorafenib dose, RFENDTC the end-of-study date,
RFPENDTC the last date the subject is known to have been in the study. AGE is
completed years at informed consent; the birth date itself never leaves the pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import isin
from pipeline.dates import complete_date
from pipeline.imputation import possible_range
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, make_queries
from pipeline.sdtm.subjects import with_usubjid
from pipeline.specs.raw import load_raw_spec
from pipeline.specs.study import load_study

DOMAIN = "DM"
INPUTS = {
    "enrol": ["raw", "enrol"],
    "demog": ["raw", "dm"],
    "surg": ["raw", "surg"],
    "ex": ["raw", "ex"],
    "ds": ["raw", "ds"],
    "surv": ["raw", "surv"],
    "ta": ["raw", "ta"],
}


def age_at(birth: pd.Series, ref: pd.Series) -> pd.Series:
    """Completed years from ``birth`` to ``ref`` (both ISO 8601); null if either is partial."""
    b, r = complete_date(birth), complete_date(ref)
    years = r.dt.year - b.dt.year
    before_birthday = (r.dt.month < b.dt.month) | ((r.dt.month == b.dt.month) & (r.dt.day < b.dt.day))
    return (years - before_birthday.astype("float64")).where(b.notna() & r.notna())


def build(
    enrol: FormExtract,
    demog: FormExtract,
    surg: FormExtract,
    ex: FormExtract,
    ds: FormExtract,
    surv: FormExtract,
    ta: FormExtract,
) -> DomainResult:
    """DM from enrollment, demographics and surgery records; reference dates from EX, DS, survival and assessments."""
    study = load_study()
    sites = load_raw_spec().sites
    e = with_usubjid(enrol.data)
    demo = with_usubjid(demog.data)
    d = demo.drop_duplicates("USUBJID").set_index("USUBJID")
    s = with_usubjid(surg.data).drop_duplicates("USUBJID").set_index("USUBJID")

    # A DM record needs the enrollment, demographics and surgery records (Req variables).
    has_all = isin(e["USUBJID"], d.index) & isin(e["USUBJID"], s.index)
    missing = e[~has_all]
    what = np.where(~isin(missing["USUBJID"], d.index), "demographics (dm)", "surgery (surg)")
    queries = make_queries(
        missing,
        "enrol",
        "SUBJID",
        missing["SUBJID"],
        "DM_SOURCE_MISSING",
        pd.Series(
            "Enrolled subject has no valid " + pd.Series(what, index=missing.index) + " record; held back from DM",
            index=missing.index,
        ),
    )
    # A demographics record of a subject who was never enrolled cannot go to DM: say so.
    stray = demo[~isin(demo["USUBJID"], e["USUBJID"])]
    queries = pd.concat(
        [
            queries,
            make_queries(
                stray,
                "dm",
                "SUBJID",
                stray["SUBJID"],
                "SUBJECT_NOT_ENROLLED",
                "Demographics record of a subject with no enrollment record; not in DM",
            ),
        ],
        ignore_index=True,
    )
    e = e[has_all].set_index("USUBJID", drop=False)

    out = pd.DataFrame(index=e.index)
    out["STUDYID"] = study.studyid
    out["DOMAIN"] = "DM"
    out["USUBJID"] = e["USUBJID"]
    out["SUBJID"] = e["SUBJID"]
    out["SITEID"] = e["SITEID"]
    out["RFICDTC"] = e["RFICDAT"]
    out["RFSTDTC"] = s["PRSTDAT"].reindex(out.index)

    x = with_usubjid(ex.data)
    dosed = x[pd.to_numeric(x["EXDOSE"], errors="coerce") > 0]
    first = complete_date(dosed["EXSTDAT"]).groupby(dosed["USUBJID"]).min()
    last = complete_date(dosed["EXENDAT"]).groupby(dosed["USUBJID"]).max()
    # Still on sorafenib at the cut-off (an open dosing period): RFXENDTC stays null, SDTM does not impute.
    still_open = dosed.loc[dosed["EXENDAT"].isna(), "USUBJID"].unique()
    last = last[~isin(last.index, still_open)]
    out["RFXSTDTC"] = first.reindex(out.index).dt.strftime("%Y-%m-%d")
    out["RFXENDTC"] = last.reindex(out.index).dt.strftime("%Y-%m-%d")

    sv = with_usubjid(surv.data)
    dead = sv[(sv["SURVSTAT"] == "DEAD") & sv["DTHDAT"].notna()].drop_duplicates("USUBJID").set_index("USUBJID")
    out["DTHDTC"] = dead["DTHDAT"].reindex(out.index)
    out["DTHFL"] = np.where(out["DTHDTC"].notna(), "Y", None)  # type: ignore[call-overload]  # numpy's stubs take no None fill value

    # Participation ends at death at the latest. A DEAD contact reports a death that came before
    # it, so it counts at the death date, not its own. Any other date after the last day the
    # death can be (a partial death date spans its month or year) conflicts with the death: it
    # is a query and takes no part in RFPENDTC or RFENDTC.
    # A death before the hepatectomy is itself the error (DD: DEATH_BEFORE_HEPATECTOMY): it bounds nothing.
    _, death_hi = possible_range(out["DTHDTC"])
    death_hi = death_hi.where(~(death_hi < complete_date(out["RFSTDTC"])))
    bounding = death_hi.notna()
    dsr = with_usubjid(ds.data)
    tar = with_usubjid(ta.data)
    reports = sv["SURVSTAT"].eq("DEAD") & isin(sv["USUBJID"], out.index[bounding])
    sources = [
        (sv[~reports], "surv", "CONTDAT"),
        (tar, "ta", "TADAT"),
        (dsr, "ds", "DSSTDAT"),
        (x, "ex", "EXSTDAT"),
        (x, "ex", "EXENDAT"),
        (e, "enrol", "RFICDAT"),
        (e, "enrol", "ENRLDAT"),
    ]
    dates, after_death = [], []
    for frame, form, fld in sources:
        when = complete_date(frame[fld]).set_axis(frame["USUBJID"].to_numpy())
        late = (when > death_hi.reindex(when.index)).to_numpy()
        # Queried elsewhere: an assessment after the death by DD (DEATH_BEFORE_LAST_ASSESSMENT), a
        # contact by SS (ALIVE_AFTER_DEATH).
        if form not in ("ta", "surv") and late.any():
            rows = frame[late]
            limit = rows["USUBJID"].map(out["DTHDTC"]).astype(str)
            after_death.append(
                make_queries(
                    rows,
                    form,
                    fld,
                    rows[fld],
                    "DATE_AFTER_DEATH",
                    "Date after the death (" + limit + "); not counted as participation",
                )
            )
        dates.append(when[~late].dropna())
    dates.append(complete_date(out["RFSTDTC"]))
    last_seen = (
        pd.concat([p for p in dates if len(p)] or [pd.Series(dtype="datetime64[ns]")]).groupby(level=0).max().reindex(out.index)
    )
    # The death itself ends participation when nothing consistent with it is later (as collected: may be partial).
    death_lo, _ = possible_range(out["DTHDTC"])
    by_death = bounding & ~(last_seen >= death_lo)
    out["RFPENDTC"] = last_seen.dt.strftime("%Y-%m-%d").where(~by_death, out["DTHDTC"])

    eos = dsr[dsr["DSCAT"] == "END OF STUDY"].drop_duplicates("USUBJID").set_index("USUBJID")
    eos_date = eos["DSSTDAT"].reindex(out.index)
    eos_late = complete_date(eos_date) > death_hi
    out["RFENDTC"] = eos_date.where(~eos_late, out["DTHDTC"])
    queries = pd.concat([queries, *after_death], ignore_index=True)

    age = age_at(d["BRTHDAT"].reindex(out.index), e["RFICDAT"])
    # A birth date after consent is an error: no negative AGE, a query instead (the date itself is never shown).
    born_later = age < 0
    rows = d.reindex(out.index)[born_later].assign(SUBJID=e.loc[born_later, "SUBJID"])
    queries = pd.concat(
        [
            queries,
            make_queries(
                rows,
                "dm",
                "BRTHDAT",
                pd.Series("<redacted>", index=rows.index),
                "BIRTH_AFTER_CONSENT",
                "Birth date is after the informed consent date; AGE not derived",
            ),
        ],
        ignore_index=True,
    )
    out["AGE"] = age.where(~born_later)
    out["AGEU"] = np.where(out["AGE"].notna(), "YEARS", None)  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["SEX"] = d["SEX"].reindex(out.index)
    out["RACE"] = d["RACE"].reindex(out.index)
    out["ETHNIC"] = d["ETHNIC"].reindex(out.index)

    arms = {a.armcd: a.arm for a in study.arms}
    out["ARMCD"] = e["TRTGRP"]
    out["ARM"] = e["TRTGRP"].map(arms)
    exposed = out["RFXSTDTC"].notna()
    treated, control = study.treated_armcd, study.control_armcd
    actual = np.where(exposed, treated, np.where(out["ARMCD"] == control, control, None))  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["ACTARMCD"] = actual
    out["ACTARM"] = pd.Series(actual, index=out.index).map(arms)
    out["ARMNRS"] = np.where((out["ARMCD"] == treated) & ~exposed, "ASSIGNED, NOT TREATED", None)  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["COUNTRY"] = out["SITEID"].map({k: v.country for k, v in sites.items()})

    carry_lineage(out, e)
    return build_result(out.reset_index(drop=True), "dm", queries)
