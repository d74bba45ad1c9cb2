"""AE — Adverse Events, coded to CTCAE v4.0 terms and their MedDRA hierarchy.

AETERM is the English verbatim: a Chinese verbatim is translated through
``specs/terms/ae_verbatim.csv``. A verbatim the dictionary does not know cannot be coded
(AEDECOD is required), so its record is held back as a coding query — never passed
through or upper-cased into the output.
"""

from __future__ import annotations

import pandas as pd

from pipeline import meddra
from pipeline.dates import complete_date, study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se, make_queries
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.specs.study import load_study
from pipeline.terminology import map_terms, normalise_text
from pipeline.terms import load_verbatim_dictionary

DOMAIN = "AE"
INPUTS = {"ae": ["raw", "ae"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}
# Seriousness criteria in SDTMIG order: congenital anomaly, disability, death, hospitalisation,
# life-threatening, other medically important event.
SERIOUS_CRITERIA = ["AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESMIE"]


def code_verbatim(verbatim: pd.Series) -> pd.DataFrame:
    """Code verbatims: returns AETERM (English), the MedDRA variables of
    :data:`pipeline.meddra.AE_VARS`, ``ctcae_term``, ``in_dictionary`` (verbatim in
    specs/terms/ae_verbatim.csv), ``known`` (and its CTCAE v4.0 term, an LLT, in the MedDRA
    dictionary in use) and ``current`` (that LLT is current)."""
    vd = load_verbatim_dictionary()
    text = normalise_text(verbatim)
    ctcae, unknown = map_terms(text, dict(zip(vd["verbatim"], vd["ctcae_term"])))
    english, _ = map_terms(text, dict(zip(vd["verbatim"], vd["english_verbatim"])))
    coded = meddra.code_llt(pd.Series(ctcae.to_numpy(), index=verbatim.index))
    out = coded[meddra.AE_VARS].copy()
    out.insert(0, "AETERM", english.to_numpy())
    out["ctcae_term"] = ctcae.to_numpy()
    out["in_dictionary"] = (~unknown).to_numpy()
    out["known"] = out["in_dictionary"] & coded["known"]
    out["current"] = coded["current"]
    return out


def build(ae: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """AE from the AE form: coded; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(ae.data)
    raw, queries = keep_dm_subjects(raw, dm, "ae")
    coded = code_verbatim(raw["AETERM"])

    uncoded = ~coded["known"]
    not_in_meddra = coded["in_dictionary"] & uncoded
    noncurrent = coded["known"] & ~coded["current"]
    end_first = complete_date(raw["AEENDAT"]) < complete_date(raw["AESTDAT"])
    problems = [
        make_queries(
            raw[~coded["in_dictionary"]],
            "ae",
            "AETERM",
            raw.loc[~coded["in_dictionary"], "AETERM"],
            "AE_TERM_UNKNOWN",
            "Verbatim term not in the AE dictionary (specs/terms/ae_verbatim.csv); cannot be coded",
        ),
        make_queries(
            raw[not_in_meddra],
            "ae",
            "AETERM",
            raw.loc[not_in_meddra, "AETERM"],
            "AE_LLT_NOT_IN_MEDDRA",
            "CTCAE v4.0 term "
            + coded.loc[not_in_meddra, "ctcae_term"].astype(str)
            + " is not a lowest level term of MedDRA "
            + meddra.dictionary_version()
            + "; cannot be coded",
        ),
        make_queries(
            raw[noncurrent],
            "ae",
            "AETERM",
            raw.loc[noncurrent, "AETERM"],
            "AE_LLT_NOT_CURRENT",
            "Coded to a non-current MedDRA "
            + meddra.dictionary_version()
            + " lowest level term ("
            + coded.loc[noncurrent, "AELLT"].astype(str)
            + "); the coder should review it",
        ),
        make_queries(
            raw[end_first],
            "ae",
            "AEENDAT",
            raw.loc[end_first, "AEENDAT"],
            "END_BEFORE_START",
            "AE ends before it starts (AESTDAT " + raw.loc[end_first, "AESTDAT"].astype(str) + ")",
        ),
    ]
    # Grade 5 means death: it must go with a fatal outcome, and a fatal outcome with grade 5.
    g5 = raw["AETOXGR"].astype(str).eq("5") != raw["AEOUT"].eq("FATAL")
    problems.append(
        make_queries(
            raw[g5],
            "ae",
            "AETOXGR",
            raw.loc[g5, "AETOXGR"],
            "GRADE5_NOT_FATAL",
            "CTCAE grade 5 and outcome FATAL disagree (AEOUT " + raw.loc[g5, "AEOUT"].astype(str) + ")",
        )
    )
    # Control subjects take no sorafenib: an action with it is NOT APPLICABLE, and a relationship
    # to it can only be NOT APPLICABLE or NOT RELATED (both say sorafenib did not cause the event).
    control = raw["USUBJID"].map(dm.data.set_index("USUBJID")["ARMCD"]).eq(load_study().control_armcd)
    for var, allowed in (("AEREL", ["NOT APPLICABLE", "NOT RELATED"]), ("AEACN", ["NOT APPLICABLE"])):
        bad = control & ~raw[var].isin(allowed)
        problems.append(
            make_queries(
                raw[bad],
                "ae",
                var,
                raw.loc[bad, var],
                "CONTROL_ARM_" + var,
                f"{var} refers to sorafenib, which a control subject does not take; expected {' or '.join(allowed)}",
            )
        )
    # An AE starting after the end of study or after death: kept as collected, but a site must confirm it.
    ref = dm.data.set_index("USUBJID")
    start = complete_date(raw["AESTDAT"])
    for var, rule, what in (("RFENDTC", "AE_AFTER_END_OF_STUDY", "end of study"), ("DTHDTC", "AE_AFTER_DEATH", "death")):
        limit = complete_date(raw["USUBJID"].map(ref[var]))
        late = start > limit
        problems.append(
            make_queries(
                raw[late],
                "ae",
                "AESTDAT",
                raw.loc[late, "AESTDAT"],
                rule,
                f"AE starts after the {what} (" + limit[late].dt.strftime("%Y-%m-%d") + ")",
            )
        )
    # Seriousness: a serious AE names at least one criterion; a non-serious one names none.
    crit = raw.reindex(columns=SERIOUS_CRITERIA).eq("Y")
    any_crit = crit.any(axis=1)
    none = raw["AESER"].eq("Y") & ~any_crit
    problems.append(
        make_queries(
            raw[none],
            "ae",
            "AESER",
            raw.loc[none, "AESER"],
            "SERIOUS_NO_CRITERION",
            "Serious AE without a seriousness criterion (" + ", ".join(SERIOUS_CRITERIA) + " all blank or N)",
        )
    )
    extra = raw["AESER"].eq("N") & any_crit
    named = (
        crit[extra].apply(lambda r: ", ".join(c for c in SERIOUS_CRITERIA if r[c]), axis=1)
        if extra.any()
        else pd.Series(dtype=str)
    )
    problems.append(
        make_queries(
            raw[extra],
            "ae",
            "AESER",
            raw.loc[extra, "AESER"],
            "NOT_SERIOUS_WITH_CRITERION",
            "AE not serious but a seriousness criterion is Y (" + named.astype(str) + ")",
        )
    )
    # An end date after death cannot be: kept as collected, queried.
    death = complete_date(raw["USUBJID"].map(ref["DTHDTC"]))
    end_late = complete_date(raw["AEENDAT"]) > death
    problems.append(
        make_queries(
            raw[end_late],
            "ae",
            "AEENDAT",
            raw.loc[end_late, "AEENDAT"],
            "AE_END_AFTER_DEATH",
            "AE ends after the death (" + death[end_late].dt.strftime("%Y-%m-%d") + ")",
        )
    )
    keep = ~(uncoded | end_first)
    raw, coded = raw[keep], coded[keep]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "AE"
    out["USUBJID"] = raw["USUBJID"]
    out["AESPID"] = raw["AESPID"].astype("Int64").astype("string")
    for c in ["AETERM", *meddra.AE_VARS]:
        out[c] = coded[c]
    out["AESER"] = raw["AESER"]
    out["AEACN"] = raw["AEACN"]
    out["AEREL"] = raw["AEREL"]
    out["AEOUT"] = raw["AEOUT"]
    for c in SERIOUS_CRITERIA:  # as collected; the form asks them only for a serious AE
        out[c] = raw[c] if c in raw.columns else None
    out["AETOXGR"] = raw["AETOXGR"].astype("string")
    out["AESTDTC"] = raw["AESTDAT"]
    out["AEENDTC"] = raw["AEENDAT"]
    ongoing = raw["AEONGO"].eq("Y") & raw["AEENDAT"].isna()
    out["AEENRTPT"] = ongoing.map({True: "ONGOING", False: None})
    # Ongoing at the end of participation, or at death: an AE is never ongoing past death.
    subj = dm.data.set_index("USUBJID")
    dthdtc = raw["USUBJID"].map(subj["DTHDTC"])
    tpt = dthdtc.where(dthdtc.notna(), raw["USUBJID"].map(subj["RFPENDTC"]))
    out["AEENTPT"] = tpt.where(ongoing, None)
    ref = dm_reference(dm).set_index("USUBJID").reindex(raw["USUBJID"]).set_index(raw.index)
    out["EPOCH"] = epoch_from_se(raw["AESTDAT"], raw["USUBJID"], se.data)
    out["AESTDY"] = study_day(raw["AESTDAT"], ref["RFSTDTC"])
    out["AEENDY"] = study_day(raw["AEENDAT"], ref["RFSTDTC"])
    carry_lineage(out, raw)
    out = derive_seq(out, "AESEQ", ["AESTDTC", "AESPID"])
    return build_result(out, "ae", pd.concat([queries, *problems], ignore_index=True), "AESEQ")
