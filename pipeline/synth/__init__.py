"""Seeded synthetic-study generator: raw EDC exports of NCT02867280 plus a ground-truth folder.

``generate_study(n_subjects, seed, out_dir)`` writes ``<out_dir>/<siteid>/<form>.csv|xlsx``
in each site's habits (specs/raw) and the true per-subject values to
``<out_dir>_truth/`` (never read by the pipeline). Same seed -> byte-identical files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.specs.raw import RawSpec, load_raw_spec
from pipeline.synth.adverse_events import CRITERIA, draw_seriousness_criteria
from pipeline.synth.calibration import load_calibration
from pipeline.synth.messiness import SiteStyle
from pipeline.synth.outcomes import rfs_params
from pipeline.synth.records import plan_problems, site_forms
from pipeline.synth.simulate import Study, load_study_yaml, simulate_study
from pipeline.synth.truth import TRUTH_README, ae_truth, parameters_json, subjects_truth
from pipeline.synth.writers import csv_bytes, write_atomic, write_site

__all__ = ["DEFAULT_SEED", "Export", "GenerationReport", "build_export", "generate_study", "write_truth"]

DEFAULT_SEED = 20160901


@dataclass(frozen=True)
class GenerationReport:
    """What one generation wrote: counts per form, arms, problems and every file path."""

    n_subjects: int
    seed: int
    scenario: str
    out_dir: Path
    truth_dir: Path
    arm_counts: dict
    records: dict  # form -> rows written over all sites (duplicates included)
    n_problems: int
    files: tuple = field(default_factory=tuple)


@dataclass
class Export:
    """One simulated study rendered in the sites' styles, not yet written: {siteid: {form: cells}} and its truth."""

    study: Study
    spec: RawSpec
    cal: dict
    scenario: str
    rate: float
    studyid: str
    stamp: dt.datetime
    forms: dict  # siteid -> {form: DataFrame of cells}
    problems: pd.DataFrame  # injected_problems.csv
    subjids: pd.Series  # written subject id per cohort row


def build_export(n_subjects: int, seed: int, *, scenario: str | None = None, problem_rate: float | None = None) -> Export:
    """Simulate ``n_subjects`` with ``seed`` and render every site's forms (nothing written); see generate_study."""
    if n_subjects < 1:
        raise ValueError("n_subjects must be >= 1")
    cal = load_calibration()
    scenario = scenario or cal["outcomes"]["default_scenario"]
    mcal = cal["messiness"]
    rate = float(mcal["problem_rate"] if problem_rate is None else problem_rate)
    spec = load_raw_spec()
    studyid = str(load_study_yaml()["studyid"])

    rng = np.random.Generator(np.random.PCG64(seed))
    study = simulate_study(n_subjects, rng, cal, scenario)
    # Values added later draw from streams of their own: every earlier value stays as it was.
    crit_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1,))))
    study.ae[CRITERIA] = draw_seriousness_criteria(study.ae, crit_rng, cal)
    plan = plan_problems(study, rng, rate, int(mcal["min_problems_per_kind"]) if rate > 0 else 0)
    if rate <= 0:
        plan.ae.clear()
        plan.lb.clear()
        plan.cm.clear()
    stamp = dt.datetime.combine(dt.date.fromisoformat(str(cal["outcomes"]["data_cutoff"])), dt.time())
    problems: list[dict] = []
    ids = []
    by_site: dict = {}
    for siteid in spec.sites:
        style = SiteStyle(siteid, spec.codelists, mcal, rng)
        forms, probs, sid = site_forms(
            study, siteid, style, spec, plan, mcal, cal["baseline"], crit_style=SiteStyle(siteid, spec.codelists, mcal, crit_rng)
        )
        by_site[siteid] = forms
        problems += probs
        ids.append(sid)
    prob = pd.DataFrame(problems, columns=["siteid", "subjid", "form", "field", "value", "kind", "record_key"])
    return Export(study, spec, cal, scenario, rate, studyid, stamp, by_site, prob, pd.concat(ids))


def write_truth(export: Export, seed: int, n_subjects: int, truth_dir: Path) -> list[Path]:
    """Write the ground-truth folder of ``export`` (subjects, adverse events, injected problems, parameters, README)."""
    study, prob = export.study, export.problems
    k, lam = rfs_params(export.cal, "SORAFENIB", export.scenario)
    truth = {
        "subjects.csv": subjects_truth(study, export.subjids, export.studyid),
        "adverse_events.csv": ae_truth(study, export.subjids, export.studyid, prob),
        "injected_problems.csv": prob,
    }
    files = []
    for name, df in truth.items():
        path = truth_dir / name
        write_atomic(path, csv_bytes(df.astype(object).where(df.notna(), ""), "utf-8", "\n"))
        files.append(path)
    path = truth_dir / "parameters.json"
    write_atomic(
        path,
        parameters_json(
            seed, n_subjects, export.scenario, export.rate, study, {"shape": k, "scale_months": lam}, len(prob)
        ).encode("utf-8"),
    )
    files.append(path)
    path = truth_dir / "README.md"
    write_atomic(path, TRUTH_README.encode("utf-8"))
    files.append(path)
    return files


def generate_study(
    n_subjects: int,
    seed: int,
    out_dir: Path,
    truth_dir: Path | None = None,
    *,
    scenario: str | None = None,
    problem_rate: float | None = None,
) -> GenerationReport:
    """Generate a raw export set for ``n_subjects`` with ``seed`` into ``out_dir``.

    ``truth_dir`` defaults to ``out_dir.parent / (out_dir.name + "_truth")``; ``scenario``
    (optimistic / moderate / null sorafenib RFS) and ``problem_rate`` default to the
    calibration. Returns a :class:`GenerationReport`.
    """
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else out_dir.parent / (out_dir.name + "_truth")
    export = build_export(n_subjects, seed, scenario=scenario, problem_rate=problem_rate)
    files: list[Path] = []
    for siteid, site in export.spec.sites.items():
        files += write_site(export.forms[siteid], site, out_dir, export.stamp)
    files += write_truth(export, seed, n_subjects, truth_dir)
    return _report(export, n_subjects, seed, out_dir, truth_dir, files)


def _report(export: Export, n_subjects: int, seed: int, out_dir: Path, truth_dir: Path, files: list[Path]) -> GenerationReport:
    records: dict[str, int] = {}
    for forms in export.forms.values():
        for f, df in forms.items():
            records[f] = records.get(f, 0) + len(df)
    arms = export.study.cohort["arm"].value_counts().sort_index()
    return GenerationReport(
        n_subjects=n_subjects,
        seed=seed,
        scenario=export.scenario,
        out_dir=out_dir,
        truth_dir=truth_dir,
        arm_counts={a: int(v) for a, v in arms.items()},
        records=records,
        n_problems=len(export.problems),
        files=tuple(files),
    )
