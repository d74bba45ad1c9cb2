"""One layer's submission package: per dataset ``<name>.xpt`` and ``<name>.json``, plus
``define.xml``, ``define.html`` and the define stylesheet, all in one folder.

A dataset that breaks an XPT rule is not delivered at all (no XPT, no JSON, no define entry,
and a file left from an earlier run is removed), so the folder never mixes versions; its
problems are returned for the asset check to show.

A dataset without records (IE when every subject met every criterion) is not submitted either
(FDA Technical Conformance Guide; CDISC CORE CG0408): no XPT, no JSON, no ItemGroupDef. It is
named in ``PackageResult.not_submitted`` and, from the Parquet outputs, in the manifest, for the
reviewer's guide. (Define-XML 2.1's def:HasNoData is not used: that documents a planned dataset
that is part of the metadata, e.g. for analysis results, not one left out of the package.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.submission.common import (
    dataset_char_widths,
    study_char_widths,
    submission_frame,
)
from pipeline.submission.datasetjson import write_dataset_json
from pipeline.submission.define import STYLESHEET, write_define
from pipeline.submission.xpt import XptProblem, check_for_xpt, write_xpt

if TYPE_CHECKING:
    from pipeline.specs.ct import Codelist
    from pipeline.specs.datasets import DatasetSpec


# Datasets written at once (threads); PIPELINE_WRITER_THREADS overrides (1 = one after another).
WRITER_THREADS = int(os.environ.get("PIPELINE_WRITER_THREADS", min(2, os.cpu_count() or 1)))
THREADED_ROWS = 100_000  # records in the package from which the threads pay off


@dataclass
class PackageResult:
    """What was written for a layer and what kept anything from being written."""

    layer: str
    out_dir: Path
    files: dict[str, int] = field(default_factory=dict)  # file name -> size in bytes
    rows: dict[str, int] = field(default_factory=dict)  # dataset -> rows delivered
    xpt_problems: list[XptProblem] = field(default_factory=list)
    not_submitted: list[str] = field(default_factory=list)  # datasets without records, left out
    define_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def xsd_errors(self) -> list[str]:
        return [p for p in self.define_problems if p.startswith("XSD:")]


def write_package(
    layer_name: str,
    frames: Mapping[str, pd.DataFrame],
    specs: Mapping[str, DatasetSpec],
    out_dir: Path,
    ct: Mapping[str, Codelist] | None = None,
    data_cutoff: str | None = None,
) -> PackageResult:
    """Write the submission files of the datasets in ``frames`` (name -> frame) into ``out_dir``.

    ``specs`` maps the same names to their DatasetSpec. Returns the files written with
    their sizes, the rows per dataset, every XPT problem and every define.xml problem.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    res = PackageResult(layer_name, out_dir)
    _write_files(res, frames, specs, out_dir, layer_name, ct, data_cutoff)
    res.files = dict(sorted(res.files.items()))
    res.seconds = time.perf_counter() - t0
    return res


def _write_files(
    res: PackageResult,
    frames: Mapping[str, pd.DataFrame],
    specs: Mapping[str, DatasetSpec],
    out_dir: Path,
    layer_name: str,
    ct: Mapping[str, Codelist] | None,
    data_cutoff: str | None,
) -> None:
    delivered: dict[str, pd.DataFrame] = {}  # dataset name -> frame
    delivered_specs: dict[str, DatasetSpec] = {}
    own_widths: dict[str, dict[str, int]] = {}
    for name in sorted(frames):
        spec, df = specs[name], frames[name]
        if df.empty:  # not submitted (see above); a file left from an earlier run is removed
            res.not_submitted.append(spec.name)
            for old in (out_dir / f"{spec.name.lower()}.xpt", out_dir / f"{spec.name.lower()}.json"):
                old.unlink(missing_ok=True)
            continue
        problems = check_for_xpt(df, spec)
        if problems:
            res.xpt_problems += problems
            stem = spec.name.lower()
            for old in (out_dir / f"{stem}.xpt", out_dir / f"{stem}.json"):
                old.unlink(missing_ok=True)
            continue
        # One submission frame per dataset, shared by the XPT, Dataset-JSON and define.xml writers.
        delivered[spec.name] = submission_frame(df, spec)
        delivered_specs[spec.name] = spec
        own_widths[spec.name] = dataset_char_widths(delivered[spec.name], spec)
    # One allotted length per variable across the package (TCG), applied to XPT, JSON and define.
    widths = study_char_widths(own_widths, delivered_specs, {n for n, df in delivered.items() if df.empty})

    def write(name: str) -> list[Path]:
        df, spec = delivered[name], delivered_specs[name]
        return [
            write_xpt(df, spec, out_dir, data_cutoff, checked=True, widths=widths[name]),
            write_dataset_json(df, spec, out_dir, layer_name, data_cutoff, widths=widths[name]),
        ]

    # The files of two datasets are written at a time: their work is numpy and Arrow compute,
    # which run without the GIL, so a second core cuts the wall time by a third. Largest datasets
    # first; a small package (the threads' overhead outweighs their gain) one dataset at a time.
    # define.xml is built from the same frames meanwhile, in this thread (it reads no written file).
    order = sorted(delivered, key=lambda n: -len(delivered[n]))
    threaded = sum(len(df) for df in delivered.values()) >= THREADED_ROWS
    with ThreadPoolExecutor(max_workers=WRITER_THREADS if threaded else 1) as pool:
        written = pool.map(write, order) if threaded else None
        if delivered:
            d = write_define(out_dir, layer_name, list(delivered_specs.values()), delivered, ct, data_cutoff, widths)
            res.define_problems = d.problems
            for f in ("define.xml", "define.html", STYLESHEET):
                res.files[f] = (out_dir / f).stat().st_size
        for name, paths in zip(order, written if written is not None else map(write, order)):
            for p in paths:
                res.files[p.name] = p.stat().st_size
            res.rows[name] = len(delivered[name])
