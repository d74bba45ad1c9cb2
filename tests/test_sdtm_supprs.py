"""SUPPRS: the collected diagnosis date of each recurrence, linked to its RS record by RSSEQ."""

from sdtm_inputs import empty
from test_sdtm_rs import DEMOG, ENROL, EX, S2, S3, SURG, SURV, TA

from pipeline.schemas import validate_frame
from pipeline.sdtm import dm as dm_mod
from pipeline.sdtm import rs as rs_mod
from pipeline.sdtm import se as se_mod
from pipeline.sdtm import supprs as supprs_mod
from pipeline.specs.datasets import load_dataset_spec


def test_recurdat_qualifies_its_relapsed_disease_record():
    dm = dm_mod.build(ENROL, DEMOG, SURG, EX, empty("ds"), SURV, TA)
    se = se_mod.build(dm, ENROL)
    rs = rs_mod.build(SURG, TA, dm, se)
    supp = supprs_mod.build(TA, rs, dm)
    ok, failures = validate_frame(supp.data, load_dataset_spec("sdtm", "supprs"))
    assert ok, failures.to_string()
    got = supp.data[["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL"]].values.tolist()
    # 101-001 RSSEQ 10 (same day), 101-002 RSSEQ 9 (partial "2018-06"), 101-003 RSSEQ 7 (2018-05-09);
    # the stray RECURDAT of an NED assessment (101-002) and the recurrence without a date add nothing.
    assert got == [
        ["NCT02867280-101-101-001", "RSSEQ", "10", "RECURDTC", "Date of Recurrence Diagnosis", "2018-07-09"],
        [S2, "RSSEQ", "9", "RECURDTC", "Date of Recurrence Diagnosis", "2018-06"],
        [S3, "RSSEQ", "7", "RECURDTC", "Date of Recurrence Diagnosis", "2018-05-09"],
    ]
    assert supp.lineage["RAWROW"].tolist() == [4, 7, 9]
    # A collected date is objective: no evaluator (SDTMIG 3.4 8.4).
    assert supp.data["QEVAL"].isna().all() and (supp.data["QORIG"] == "Collected").all()
