"""pipeline.synth reproduces its calibration targets on a 20,000-subject cohort.

Targets are computed from calibration.yaml and its published anchors by formula (Weibull survival,
a numerical convolution for OS), never from the generator's own output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from scipy.stats import truncnorm

from pipeline.synth.calibration import load_calibration
from pipeline.synth.simulate import simulate_study
from pipeline.synth.truth import subjects_truth

N = 20_000
TIMES = (12, 24, 36, 60)
CAL = load_calibration()


def weibull_s(t, k, lam):
    return np.exp(-((np.asarray(t, float) / lam) ** k))


def implied_os(t, k, lam, mu, pk, plam):
    """OS(t) implied by RFS Weibull(k, lam), death-without-recurrence hazard mu and PRS Weibull(pk, plam)."""
    s = np.linspace(1e-6, t, 40001)
    ds = s[1] - s[0]
    h = k / lam * (s / lam) ** (k - 1)
    f_rec = np.maximum(h - mu, 0) * weibull_s(s, k, lam)
    return float(weibull_s(t, k, lam) + np.sum(f_rec * weibull_s(t - s, pk, plam)) * ds)


@pytest.fixture(scope="module")
def sim():
    study = simulate_study(N, np.random.Generator(np.random.PCG64(424242)), CAL, "moderate")
    ids = pd.Series(np.arange(N).astype(str), index=np.arange(N))
    return study, subjects_truth(study, ids, "NCT02867280")


def _km(durations, events, times):
    kmf = KaplanMeierFitter().fit(durations, events)
    return np.array([float(kmf.survival_function_at_times(t).iloc[0]) for t in times])


def _targets():
    oc = CAL["outcomes"]
    m = oc["sorafenib_rfs_scenarios"]["moderate"]
    return {"CONTROL": (oc["control_rfs_shape"], oc["control_rfs_scale"]), "SORAFENIB": (m["shape"], m["scale"])}


def test_scenarios_match_trial_facts_anchors():
    sc = CAL["outcomes"]["sorafenib_rfs_scenarios"]
    # Published anchors (calibration.yaml sources): optimistic S12=0.72, S36=0.47; null = control^0.94 (0.52, 0.29); control 0.50/0.27.
    assert weibull_s([12, 36], sc["optimistic"]["shape"], sc["optimistic"]["scale"]) == pytest.approx([0.72, 0.47], abs=0.006)
    assert weibull_s([12, 36], sc["null"]["shape"], sc["null"]["scale"]) == pytest.approx(
        weibull_s([12, 36], 0.579, 22.6) ** 0.94, abs=0.003
    )
    assert weibull_s([12, 36], 0.579, 22.6) == pytest.approx([0.50, 0.27], abs=0.006)
    # moderate lies between null and optimistic at every landmark.
    for t in TIMES:
        mod = weibull_s(t, sc["moderate"]["shape"], sc["moderate"]["scale"])
        assert (
            weibull_s(t, sc["null"]["shape"], sc["null"]["scale"])
            < mod
            < weibull_s(t, sc["optimistic"]["shape"], sc["optimistic"]["scale"])
        )


def test_latent_rfs_per_arm(sim):
    study, _ = sim
    arm = study.cohort["arm"].to_numpy()
    for a, (k, lam) in _targets().items():
        m = arm == a
        got = _km(study.latent["t_rfs"].to_numpy()[m], np.ones(m.sum()), TIMES)
        assert got == pytest.approx(weibull_s(TIMES, k, lam), abs=0.02), a


def test_latent_os_per_arm(sim):
    study, _ = sim
    oc = CAL["outcomes"]
    arm = study.cohort["arm"].to_numpy()
    mu = oc["death_without_recurrence_per_year"] / 12
    # Control OS reproduces the SYSUCC control OS Weibull (calibration.yaml control_os_target, [S20]).
    t = oc["control_os_target"]
    m = arm == "CONTROL"
    got = _km(study.latent["t_death"].to_numpy()[m], np.ones(m.sum()), TIMES)
    assert got == pytest.approx(weibull_s(TIMES, t["shape"], t["scale"]), abs=0.03)
    # Sorafenib OS is what its RFS and the post-recurrence survival imply.
    k, lam = _targets()["SORAFENIB"]
    plam = oc["prs_scale"] * oc["prs_hr_sorafenib"] ** (-1 / oc["prs_shape"])
    exp = [implied_os(x, k, lam, mu, oc["prs_shape"], plam) for x in TIMES]
    m = arm == "SORAFENIB"
    got = _km(study.latent["t_death"].to_numpy()[m], np.ones(m.sum()), TIMES)
    assert got == pytest.approx(exp, abs=0.02)


def test_observed_endpoints_close_to_targets(sim):
    _, tr = sim
    for a, (k, lam) in _targets().items():
        d = tr[tr["arm"] == a]
        rfs = _km(d["rfs_days"] / 30.4375, d["rfs_event"], TIMES)
        # Recurrence is seen only at the next visit (q2 months early on): allow that delay.
        assert rfs == pytest.approx(weibull_s(TIMES, k, lam), abs=0.05), a
        ttr = _km(d["ttr_days"] / 30.4375, d["ttr_event"], TIMES)
        assert np.all(ttr >= rfs - 1e-9)
    # Deaths without recurrence are rare.
    dead_norec = ((tr["os_event"] == 1) & (tr["ttr_event"] == 0)).mean()
    assert dead_norec < 0.05


def test_ae_incidence_and_dose_modification(sim):
    study, tr = sim
    ac = CAL["adverse_events"]
    ex = CAL["exposure"]
    sor = tr[tr["arm"] == "SORAFENIB"]
    n_sor = len(sor)
    ae = study.ae[study.ae["arm"] == "SORAFENIB"]
    inc = ae.groupby("term")["subj"].nunique() / n_sor
    for term, p in ac["sorafenib"].items():
        # Written incidence: the latent incidence, less the AEs that would have started after
        # sorafenib stopped (recurrence, AE withdrawal...), so somewhat below the target.
        assert 0.75 * p["incidence"] - 0.02 <= inc.get(term, 0.0) <= p["incidence"] + 0.015, term
    # Early onset: most sorafenib AEs start within 60 days of the first dose.
    first = study.cohort["trt_start"].to_numpy()[ae["subj"].to_numpy()]
    assert np.mean(ae["start"].to_numpy() - first <= 60) > 0.6
    # Grade 3+ HFSR around the Asia-Pacific anchor scaled to 400 mg/day (10.7% x ~0.55).
    hfsr = ae[(ae["term"] == "Palmar-plantar erythrodysesthesia syndrome") & (ae["grade"] >= 3)]
    assert 0.03 <= hfsr["subj"].nunique() / n_sor <= 0.09
    assert sor["ae_drug_withdrawn"].mean() == pytest.approx(ex["ae_discontinuation_target"], abs=0.04)
    assert sor["ae_dose_reduced_or_interrupted"].mean() == pytest.approx(ex["ae_dose_modification_target"], abs=0.05)
    assert (sor["eot_reason"] == "ADVERSE EVENT").mean() == pytest.approx(sor["ae_drug_withdrawn"].mean(), abs=0.01)
    # Control AEs are never related to sorafenib and never change a dose.
    ctl = study.ae[study.ae["arm"] == "CONTROL"]
    assert set(ctl["rel"]) <= {"NOT APPLICABLE", "NOT RELATED"}
    assert set(ctl["action"]) == {"NOT APPLICABLE"}
    assert (tr.loc[tr["arm"] == "CONTROL", "total_dose_mg"] == 0).all()
    # Grade 5 only with outcome FATAL, and vice versa.
    assert ((study.ae["grade"] == 5) == (study.ae["outcome"] == "FATAL")).all()
    # Total dose never exceeds 400 mg x 730 days.
    assert sor["total_dose_mg"].max() <= 400 * 730
    assert sor.loc[sor["eot_reason"] == "COMPLETED", "trt_days"].eq(730).all()


def test_exposure_periods_consistent(sim):
    study, _ = sim
    ex = study.ex
    assert (ex["exendat"] >= ex["exstdat"]).all()
    g = ex.groupby("subj")
    # Contiguous constant-dose periods; a change always has a reason, the first period none.
    nxt = g["exstdat"].shift(-1)
    assert ((nxt.dropna() - ex.loc[nxt.notna(), "exendat"]) == 1).all()
    first = g.cumcount() == 0
    assert ex.loc[first, "exadj"].isna().all() and ex.loc[~first, "exadj"].notna().all()
    assert set(ex["dose"]) <= {0, 200, 400}
    # Reductions and interruptions for an AE match AEs whose action says so.
    changed = set(ex.loc[ex["exadj"] == "ADVERSE EVENT", "subj"])
    acted = set(study.ae.loc[study.ae["action"].isin(["DOSE REDUCED", "DRUG INTERRUPTED"]), "subj"])
    assert changed == acted


def test_baseline_marginals(sim):
    study, _ = sim
    c = study.cohort
    bl = CAL["baseline"]
    lo, hi = bl["age_range"]
    a, b = (lo - bl["age_mean"]) / bl["age_sd"], (hi + 1 - bl["age_mean"]) / bl["age_sd"]
    assert c["age"].mean() + 0.5 == pytest.approx(truncnorm.mean(a, b, loc=bl["age_mean"], scale=bl["age_sd"]), abs=0.4)
    assert c["age"].between(18, 75).all()
    # The assumed ranges of calibration.yaml.
    checks = {
        "male": ((c["sex"] == "M").mean(), 0.85, 0.88),
        "hbsag": (c["hbsag"].mean(), 0.85, 0.92),
        "antihcv": (c["antihcv"].mean(), 0.01, 0.03),
        "cirrhosis": (c["cirrhosis"].mean(), 0.35, 0.60),
        "afp>400": ((c["afp"] > 400).mean(), 0.35, 0.45),
        "size>5": ((c["tumsz"] > 5).mean(), 0.45, 0.60),
        "multiple": ((c["tumnum"] > 1).mean(), 0.15, 0.26),
        "bclc_b": ((c["bclc"] == "B").mean(), 0.20, 0.30),
        "edmondson_3_4": (c["edmgrd"].isin(["III", "IV"]).mean(), 0.40, 0.55),
        "ecog0": ((c["ecog"] == 0).mean(), 0.85, 0.90),
        "child_pugh5": ((c["childpugh"] == 5).mean(), 0.75, 0.80),
    }
    for name, (v, low, high) in checks.items():
        assert low <= v <= high, (name, v)
    assert (c["arm"] == "SORAFENIB").mean() == pytest.approx(0.5, abs=0.015)
    # Eligibility: T2 or T3a, BCLC A or B, Child-Pugh A, ECOG 0-1, consent and first dose after surgery.
    assert set(c["tnmt"]) <= {"T2", "T3a"} and set(c["bclc"]) <= {"A", "B"}
    assert (c["consent"] > c["surg"]).all()
    s = c[c["arm"] == "SORAFENIB"]
    assert ((s["trt_start"] - s["surg"]).between(1, 28)).all() and (s["trt_start"] >= s["enrol"]).all()
    # Child-Pugh 6 comes from albumin 28-35 g/L; bilirubin stays below 34 umol/L.
    assert (c.loc[c["childpugh"] == 6, "lab_ALB"] <= 35).all() and (c["lab_BILI"] < 34).all()


def test_dates_respect_death_cut_and_order(sim):
    study, tr = sim
    cut = study.cut
    dd = study.state["death_day"]
    NA = -(2**31)
    dead = dd != NA
    for name, df, cols in (
        ("ta", study.ta, ["tadat"]),
        ("ex", study.ex, ["exstdat", "exendat"]),
        ("ae", study.ae, ["start", "aeendat"]),
        ("surv", study.surv[study.surv["status"] == "ALIVE"], ["contdat"]),
        ("ds", study.ds, ["date"]),
        ("nl", study.nl, ["tadat"]),
    ):
        s = df["subj"].to_numpy()
        for col in cols:
            v = df[col].to_numpy()
            ok = v != NA
            assert (v[ok] <= cut).all(), (name, col)
            d = dead[s] & ok
            assert (v[d] <= dd[s][d]).all(), (name, col)
    ta = study.ta
    assert (ta["tadat"].to_numpy() < np.where(dead, dd, np.iinfo("int64").max)[ta["subj"].to_numpy()]).all()
    ae = study.ae
    ended = ae["aeendat"].to_numpy() != NA
    assert (ae["aeendat"].to_numpy()[ended] >= ae["start"].to_numpy()[ended]).all()
    assert (ae["ongoing"].to_numpy() == ~ended).all()
    fatal = ae[ae["outcome"] == "FATAL"]
    assert (fatal["aeendat"].to_numpy() == dd[fatal["subj"].to_numpy()]).all()
    # Every observed event or censoring date lies between hepatectomy and the cut.
    for col in ("rfs_date", "ttr_date", "os_date"):
        assert (pd.to_datetime(tr[col]) <= pd.Timestamp("2022-12-31")).all()
        assert (tr[col] >= tr["hepatectomy_date"]).all()
