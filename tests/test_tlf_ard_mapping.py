"""The ARD's efficacy rows meet the endpoint engine's rows by statistic name: a rename on either side is an error.

Hand-made engine rows (the columns of pipeline/analysis/survival.py) and survival analyses; the answers
are worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.analysis.survival import RESULT_COLS
from pipeline.specs.analysis import Analysis
from pipeline.tlf.ard import ArdMappingError, check_efficacy_mapping, efficacy

VS = "SORAFENIB vs CONTROL"


def _an(aid: str, paramcd: str, statistic: str) -> Analysis:
    return Analysis(
        aid, aid, "survival", "FAS", "TRT01P", "MTH_X", f"ADTTE.PARAMCD = {paramcd}", paramcd=paramcd, statistic=statistic
    )


def _row(paramcd: str, arm: str, statistic: str, value: float, timepoint: str = "") -> dict:
    return dict(
        zip(RESULT_COLS, ("E", paramcd, arm, statistic, timepoint, value, value - 0.1, value + 0.1, 10.0, "m"), strict=True)
    )


ANALYSES = [
    _an("AN_RFS_KM", "RFS", "KM rate"),
    _an("AN_RFS_HR", "RFS", "Hazard ratio (unadjusted)"),
    _an("AN_OS_LR", "OS", "Log-rank p-value"),
]
ADSL = pd.DataFrame({"USUBJID": ["1", "2", "3"], "FASFL": ["Y", "Y", "Y"], "TRT01P": ["SORAFENIB", "SORAFENIB", "CONTROL"]})


def _engine(hr_name: str = "Hazard ratio (unadjusted)") -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row("RFS", "SORAFENIB", "KM rate", 0.5, "1 y"),
            _row("RFS", "CONTROL", "KM rate", 0.4, "1 y"),
            _row("RFS", VS, hr_name, 0.7),
            _row("OS", VS, "Log-rank p-value", 0.03),
            # a mapped statistic of a PARAMCD no analysis declares: endpoints.csv only, not an error
            _row("OS", VS, "Hazard ratio (unadjusted)", 0.9),
        ],
        columns=RESULT_COLS,
    )


def test_matching_names_give_every_declared_row():
    rows = efficacy(ANALYSES, _engine(), ADSL)
    got = sorted((r["ANALYSIS_ID"], r["GROUP"], r["OPERATION_ID"], round(r["VALUE"], 2)) for r in rows)
    # KM rate: est/lcl/ucl/n_at_risk per arm; HR: est/lcl/ucl; log-rank: p; the OS HR row is not declared.
    assert got == sorted(
        [
            ("AN_RFS_KM", "SORAFENIB", "est", 0.5),
            ("AN_RFS_KM", "SORAFENIB", "lcl", 0.4),
            ("AN_RFS_KM", "SORAFENIB", "ucl", 0.6),
            ("AN_RFS_KM", "SORAFENIB", "n_at_risk", 10.0),
            ("AN_RFS_KM", "CONTROL", "est", 0.4),
            ("AN_RFS_KM", "CONTROL", "lcl", 0.3),
            ("AN_RFS_KM", "CONTROL", "ucl", 0.5),
            ("AN_RFS_KM", "CONTROL", "n_at_risk", 10.0),
            ("AN_RFS_HR", VS, "est", 0.7),
            ("AN_RFS_HR", VS, "lcl", 0.6),
            ("AN_RFS_HR", VS, "ucl", 0.8),
            ("AN_OS_LR", VS, "p", 0.03),
        ]
    )


def test_engine_statistic_renamed_is_an_error_naming_both_sides():
    with pytest.raises(ArdMappingError) as e:
        efficacy(ANALYSES, _engine(hr_name="HR (unadjusted)"), ADSL)
    msg = str(e.value)
    # the engine's new name, where it is unmapped, and what the analyses declare
    assert "endpoint engine statistic 'HR (unadjusted)' (PARAMCD RFS) has no mapping in pipeline/tlf/ard.py" in msg
    assert "'Hazard ratio (unadjusted)'" in msg and "analyses.yaml" in msg


def test_analysis_statistic_renamed_is_an_error_naming_both_sides():
    renamed = [*ANALYSES[:1], _an("AN_RFS_HR", "RFS", "Cox hazard ratio"), ANALYSES[2]]
    with pytest.raises(ArdMappingError) as e:
        efficacy(renamed, _engine(), ADSL)
    msg = str(e.value)
    assert "analysis AN_RFS_HR (specs/analysis/analyses.yaml) statistic 'Cox hazard ratio' has no mapping" in msg
    # the engine's side: its statistic is now declared by no analysis ... and the list it produces is named
    assert "endpoint engine statistic 'Hazard ratio (unadjusted)' (PARAMCD OS, RFS) is declared by no survival analysis" in (msg)
    assert "the endpoint engine produces: ['Hazard ratio (unadjusted)', 'KM rate', 'Log-rank p-value']" in msg


def test_statistic_the_engine_never_produces_is_an_error():
    # Cumulative incidence is mapped, but the engine analysed RFS without ever producing it
    extra = [*ANALYSES, _an("AN_RFS_CIF", "RFS", "Cumulative incidence")]
    with pytest.raises(ArdMappingError, match=r"analysis AN_RFS_CIF .* 'Cumulative incidence': the endpoint engine"):
        check_efficacy_mapping(extra, _engine())


def test_statistic_not_estimable_for_one_parameter_only_is_not_an_error():
    # no log-rank row for OS (e.g. no deaths), but the engine produces log-rank rows for RFS
    analyses = [*ANALYSES, _an("AN_RFS_LR", "RFS", "Log-rank p-value")]
    eng = _engine()
    eng = eng[~(eng["PARAMCD"].eq("OS") & eng["STATISTIC"].eq("Log-rank p-value"))]
    eng = pd.concat([eng, pd.DataFrame([_row("RFS", VS, "Log-rank p-value", 0.2)], columns=RESULT_COLS)])
    rows = efficacy(analyses, eng, ADSL)
    assert {r["ANALYSIS_ID"] for r in rows} == {"AN_RFS_KM", "AN_RFS_HR", "AN_RFS_LR"}


def test_no_engine_rows_at_all_is_not_an_error():
    # a study where nothing was estimable: nothing to map, nothing dropped
    empty = pd.DataFrame(columns=RESULT_COLS).astype({"VALUE": np.float64})
    assert efficacy(ANALYSES, empty, ADSL) == []


def test_the_study_analyses_meet_the_study_engine_names():
    from pipeline.specs.analysis import load_analyses
    from pipeline.tlf.ard import _EFFICACY_STATS

    declared = {a.statistic for a in load_analyses() if a.kind == "survival"}
    assert declared == set(_EFFICACY_STATS)
