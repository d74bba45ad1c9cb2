"""The generator's seriousness criteria: drawn only for serious AEs, from a stream of their own."""

import csv
import io

import numpy as np
import pandas as pd

from pipeline import synth
from pipeline.synth.adverse_events import CRITERIA, draw_seriousness_criteria
from pipeline.synth.calibration import load_calibration

CAL = load_calibration()


def test_criteria_only_for_serious_aes_and_at_least_one():
    ae = pd.DataFrame(
        {
            "serious": [False, True, True, True],
            "grade": [2, 5, 1, 3],
            "outcome": ["RECOVERED/RESOLVED", "FATAL", "RECOVERED/RESOLVED", "RECOVERED/RESOLVED"],
        }
    )
    got = draw_seriousness_criteria(ae, np.random.default_rng(1), CAL)
    assert list(got.columns) == CRITERIA
    assert got.loc[0].isna().all()  # not serious: nothing asked
    assert got.loc[1, "AESDTH"] is True and got.loc[2, "AESDTH"] is False  # death only for the fatal AE
    assert got.loc[2, "AESLIFE"] is False  # p(life-threatening | grade 1) = 0
    assert got.loc[1:, CRITERIA].any(axis=1).all()  # every serious AE meets a criterion
    assert not got.loc[1:, "AESCONG"].any()  # no pregnancies: p = 0


def _cells(path):
    if path.suffix == ".xlsx":
        return pd.read_excel(path, dtype=object, engine="calamine", header=None).astype(str).values.tolist()
    raw = path.read_bytes()
    text = raw.decode({"102": "gbk"}.get(path.parent.name, "utf-8-sig"))
    return list(csv.reader(io.StringIO(text)))


def test_other_values_do_not_depend_on_the_criteria_draws(tmp_path, monkeypatch):
    synth.generate_study(154, 20160901, tmp_path / "a")  # the embedded study: 7 serious AEs
    other = lambda ae, rng, cal: draw_seriousness_criteria(ae, np.random.default_rng(12345), cal)  # noqa: E731
    monkeypatch.setattr(synth, "draw_seriousness_criteria", other)
    synth.generate_study(154, 20160901, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    changed = []
    for rel in files:
        a, b = tmp_path / "a" / rel, tmp_path / "b" / rel
        if rel.stem != "ae":
            assert a.read_bytes() == b.read_bytes() or rel.suffix == ".xlsx", rel
            if rel.suffix == ".xlsx":
                assert _cells(a) == _cells(b), rel
            continue
        ca, cb = _cells(a), _cells(b)
        header = [str(h) for h in ca[0]]
        keep = [i for i, h in enumerate(header) if h not in CRITERIA]
        assert [[r[i] for i in keep] for r in ca] == [[r[i] for i in keep] for r in cb], rel
        changed.append(ca != cb)
    assert any(changed)  # the criteria themselves did change: the test can fail
