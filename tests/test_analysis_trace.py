"""The ADTTE record trace: ADTTE -> SDTM record (SRCDOM/SRCSEQ) -> raw file and row."""

import dagster as dg
import numpy as np
import pandas as pd

from pipeline.adam.common import AdamResult
from pipeline.analysis.assets import TraceConfig, subject_trace
from pipeline.analysis.trace import TRACE_COLS, adtte_trace
from pipeline.sdtm.common import DomainResult

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"


def _adtte() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": [S1, S1, S2],
            "PARAMCD": ["RFS", "OS", "RFS"],
            "AVAL": [115.0, 2267.0, 1275.0],
            "CNSR": [0.0, 3.0, 0.0],
            "ADT": pd.to_datetime(["2017-06-30", "2023-02-01", "2020-01-15"]),
            "EVNTDESC": ["RECURRENCE", "LAST KNOWN ALIVE", "RECURRENCE"],
            "SRCDOM": ["RS", "ADSL", "RS"],
            "SRCVAR": ["RSDTC", "LSTALVDT", "RSDTC"],
            "SRCSEQ": [9.0, np.nan, 24.0],
        }
    )


def _rs() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = pd.DataFrame(
        {
            "USUBJID": [S1, S2, S2],
            "RSSEQ": [9.0, 9.0, 24.0],
            "RSTESTCD": ["OVRLRESP"] * 3,
            "VISIT": ["MONTH 3", "MONTH 3", "MONTH 24"],
            "RSSTRESC": ["RELAPSED DISEASE", "NED", "RELAPSED DISEASE"],
            "RSDTC": ["2017-06-30", "2017-07-01", "2020-01-15"],
        }
    )
    lineage = pd.DataFrame(
        {
            "DOMAIN": "RS",
            "USUBJID": [S1, S2, S2],
            "RECORD": [9.0, 9.0, 24.0],
            "RAWFILE": ["101/ta.csv"] * 3,
            "RAWROW": [12, 40, 77],
        }
    )
    return data, lineage


def test_trace_follows_srcseq_to_the_raw_row():
    t = adtte_trace(_adtte(), {"RS": _rs()})
    assert list(t.columns) == TRACE_COLS
    rfs2 = t[(t["USUBJID"] == S2) & (t["PARAMCD"] == "RFS")].iloc[0]
    # Subject 2's RSSEQ 24 (not subject 1's or its own RSSEQ 9).
    assert (rfs2["raw file"], rfs2["raw row"]) == ("101/ta.csv", "77")
    assert rfs2["SDTM record"] == "RS RSSEQ=24: RSTESTCD=OVRLRESP, VISIT=MONTH 24, RSSTRESC=RELAPSED DISEASE, RSDTC=2020-01-15"
    assert rfs2["source"] == "RS.RSDTC RSSEQ=24" and rfs2["ADT"] == "2020-01-15" and rfs2["AVAL"] == "1275"
    os1 = t[(t["USUBJID"] == S1) & (t["PARAMCD"] == "OS")].iloc[0]
    assert os1["raw file"] == "" and os1["SDTM record"].startswith("derived in ADSL")


def test_trace_of_one_subject():
    t = adtte_trace(_adtte(), {"RS": _rs()}, usubjid=S1)
    assert set(t["USUBJID"]) == {S1} and list(t["PARAMCD"]) == ["OS", "RFS"]
    assert t.loc[t["PARAMCD"].eq("RFS"), "raw row"].item() == "12"


def test_trace_asset_shows_the_table_for_the_requested_subject():
    data, lineage = _rs()
    result = subject_trace(
        config=TraceConfig(usubjid=S2),
        adtte=AdamResult("ADTTE", _adtte(), pd.DataFrame()),
        rs=DomainResult("RS", data, lineage, pd.DataFrame()),
    )
    table = result.metadata["trace"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [r.data["raw row"] for r in table.records] == ["77"]
    assert result.metadata["subject"] == S2


def test_trace_of_every_subject_is_the_per_subject_traces():
    """The all-subjects trace (one join per domain) equals the per-subject traces stacked, with a
    record of two raw rows, a repeated --SEQ (the first SDTM record is shown) and an integer RSSEQ."""
    adtte = pd.concat(
        [
            _adtte(),
            pd.DataFrame(
                {
                    "USUBJID": ["S3", "S3"],
                    "PARAMCD": ["TTR", "RFS"],
                    "AVAL": [10.0, 10.0],
                    "CNSR": [0.0, 0.0],
                    "ADT": pd.to_datetime(["2018-01-10", "2018-01-10"]),
                    "EVNTDESC": ["RECURRENCE", "RECURRENCE"],
                    "SRCDOM": ["RS", "RS"],
                    "SRCVAR": ["RSDTC", "RSDTC"],
                    "SRCSEQ": [1.0, 5.0],  # RSSEQ 5 is not in RS: no SDTM record, no raw row
                }
            ),
        ],
        ignore_index=True,
    )
    data, lineage = _rs()
    data = pd.concat(
        [
            data,
            pd.DataFrame({"USUBJID": ["S3", "S3"], "RSSEQ": [1.0, 1.0], "RSTESTCD": "OVRLRESP", "VISIT": ["MONTH 1", "REPEAT"]}),
        ],
        ignore_index=True,
    )
    data["RSSEQ"] = data["RSSEQ"].astype("int64")
    lineage = pd.concat(
        [
            lineage,
            pd.DataFrame(
                {"DOMAIN": "RS", "USUBJID": ["S3", "S3"], "RECORD": [1.0, 1.0], "RAWFILE": "102/ta.csv", "RAWROW": [8, 3]}
            ),
        ],
        ignore_index=True,
    )
    every = adtte_trace(adtte, {"RS": (data, lineage)})
    each = pd.concat(
        [adtte_trace(adtte, {"RS": (data, lineage)}, u) for u in sorted(adtte["USUBJID"].unique())], ignore_index=True
    )
    pd.testing.assert_frame_equal(every, each)
    s3 = every[every["USUBJID"].eq("S3")]
    ttr = s3[s3["PARAMCD"].eq("TTR")]
    assert list(zip(ttr["raw file"], ttr["raw row"])) == [("102/ta.csv", "8"), ("102/ta.csv", "3")]  # lineage order
    assert set(ttr["SDTM record"]) == {"RS RSSEQ=1: RSTESTCD=OVRLRESP, VISIT=MONTH 1"}
    rfs = s3[s3["PARAMCD"].eq("RFS")].iloc[0]
    assert (rfs["SDTM record"], rfs["raw file"], rfs["source"]) == ("", "", "RS.RSDTC RSSEQ=5")
    assert len(every) == 3 + 2 + 1
