"""AE — Adverse Events, coded to CTCAE v4.0 terms and their MedDRA hierarchy.

AETERM is the English verbatim: a Chinese verbatim is translated through
``specs/terms/ae_verbatim.csv``. A verbatim the dictionary does not know cannot be coded
(AEDECOD is required), so its record is held back as a coding query — never passed
through or upper-cased into the output.
"""

from __future__ import annotations

import pandas as pd

from pipeline.dates import complete_date, study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, epoch_from_se, derive_seq, make_queries
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.terminology import map_terms, normalise_text
from pipeline.terms import load_ctcae_meddra, load_verbatim_dictionary

DOMAIN = "AE"
INPUTS = {"ae": ["raw", "ae"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def code_verbatim(verbatim: pd.Series) -> pd.DataFrame:
    """Code verbatims: returns AETERM (English), AELLT, AELLTCD, AEDECOD, AEPTCD, AEBODSYS, AEBDSYCD, known flag."""
    vd = load_verbatim_dictionary()
    meddra = load_ctcae_meddra().set_index("ctcae_term")
    text = normalise_text(verbatim)
    ctcae, unknown = map_terms(text, dict(zip(vd["verbatim"], vd["ctcae_term"])))
    english, _ = map_terms(text, dict(zip(vd["verbatim"], vd["english_verbatim"])))
    m = meddra.reindex(ctcae)
    blank = lambda s: s.where(s != "", None)  # noqa: E731 — empty codes stay null, never invented
    return pd.DataFrame(
        {
            "AETERM": english.to_numpy(),
            "AELLT": ctcae.to_numpy(),
            "AELLTCD": blank(m["meddra_llt_code"]).to_numpy(),
            "AEDECOD": m["meddra_pt"].to_numpy(),
            "AEPTCD": blank(m["meddra_pt_code"]).to_numpy(),
            "AEBODSYS": m["soc"].to_numpy(),
            "AEBDSYCD": blank(m["soc_code"]).to_numpy(),
            "known": (~unknown).to_numpy(),
        },
        index=verbatim.index,
    )


def build(ae: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """AE from the AE form: coded; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(ae.data)
    raw, queries = keep_dm_subjects(raw, dm, "ae")
    coded = code_verbatim(raw["AETERM"])

    uncoded = ~coded["known"]
    end_first = complete_date(raw["AEENDAT"]) < complete_date(raw["AESTDAT"])
    problems = [
        make_queries(raw[uncoded], "ae", "AETERM", raw.loc[uncoded, "AETERM"], "AE_TERM_UNKNOWN", "Verbatim term not in the AE dictionary (specs/terms/ae_verbatim.csv); cannot be coded"),
        make_queries(raw[end_first], "ae", "AEENDAT", raw.loc[end_first, "AEENDAT"], "END_BEFORE_START", "AE ends before it starts (AESTDAT " + raw.loc[end_first, "AESTDAT"].astype(str) + ")"),
    ]
    # Grade 5 means death: it must go with a fatal outcome, and a fatal outcome with grade 5.
    g5 = raw["AETOXGR"].astype(str).eq("5") != raw["AEOUT"].eq("FATAL")
    problems.append(make_queries(raw[g5], "ae", "AETOXGR", raw.loc[g5, "AETOXGR"], "GRADE5_NOT_FATAL", "CTCAE grade 5 and outcome FATAL disagree (AEOUT " + raw.loc[g5, "AEOUT"].astype(str) + ")"))
    # Control subjects take no sorafenib: an action with it is NOT APPLICABLE, and a relationship
    # to it can only be NOT APPLICABLE or NOT RELATED (both say sorafenib did not cause the event).
    control = raw["USUBJID"].map(dm.data.set_index("USUBJID")["ARMCD"]).eq("CONTROL")
    for var, allowed in (("AEREL", ["NOT APPLICABLE", "NOT RELATED"]), ("AEACN", ["NOT APPLICABLE"])):
        bad = control & ~raw[var].isin(allowed)
        problems.append(make_queries(raw[bad], "ae", var, raw.loc[bad, var], "CONTROL_ARM_" + var, f"{var} refers to sorafenib, which a control subject does not take; expected {' or '.join(allowed)}"))
    # An AE starting after the end of study or after death: kept as collected, but a site must confirm it.
    ref = dm.data.set_index("USUBJID")
    start = complete_date(raw["AESTDAT"])
    for var, rule, what in (("RFENDTC", "AE_AFTER_END_OF_STUDY", "end of study"), ("DTHDTC", "AE_AFTER_DEATH", "death")):
        limit = complete_date(raw["USUBJID"].map(ref[var]))
        late = start > limit
        problems.append(make_queries(raw[late], "ae", "AESTDAT", raw.loc[late, "AESTDAT"], rule, f"AE starts after the {what} (" + limit[late].dt.strftime("%Y-%m-%d") + ")"))
    keep = ~(uncoded | end_first)
    raw, coded = raw[keep], coded[keep]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "AE"
    out["USUBJID"] = raw["USUBJID"]
    out["AESPID"] = raw["AESPID"].astype("Int64").astype("string")
    for c in ["AETERM", "AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEBODSYS", "AEBDSYCD"]:
        out[c] = coded[c]
    out["AESOC"], out["AESOCCD"] = coded["AEBODSYS"], coded["AEBDSYCD"]
    out["AESER"] = raw["AESER"]
    out["AEACN"] = raw["AEACN"]
    out["AEREL"] = raw["AEREL"]
    out["AEOUT"] = raw["AEOUT"]
    out["AETOXGR"] = raw["AETOXGR"].astype("string")
    out["AESTDTC"] = raw["AESTDAT"]
    out["AEENDTC"] = raw["AEENDAT"]
    ongoing = raw["AEONGO"].eq("Y") & raw["AEENDAT"].isna()
    out["AEENRTPT"] = ongoing.map({True: "ONGOING", False: None})
    rfpendtc = raw["USUBJID"].map(dm.data.set_index("USUBJID")["RFPENDTC"])
    out["AEENTPT"] = rfpendtc.where(ongoing, None)
    ref = dm_reference(dm).set_index("USUBJID").reindex(raw["USUBJID"]).set_index(raw.index)
    out["EPOCH"] = epoch_from_se(raw["AESTDAT"], raw["USUBJID"], se.data)
    out["AESTDY"] = study_day(raw["AESTDAT"], ref["RFSTDTC"])
    out["AEENDY"] = study_day(raw["AEENDAT"], ref["RFSTDTC"])
    out["_file"], out["_row"] = raw["_file"], raw["_row"]
    out = derive_seq(out, "AESEQ", ["AESTDTC", "AESPID"])
    return build_result(out, "ae", pd.concat([queries, *problems], ignore_index=True), "AESEQ")
