"""Dagster wiring of the query listings: asset ``["ops", "query_listing"]`` in group ``ops``.

The asset takes every raw form, SDTM domain and ADaM dataset as input, merges their
problems with :func:`pipeline.ops.queries.build_listing` and writes
``<out>/queries/<siteid>.csv|xlsx``. The listing frame is also its stored value: the transfer
register (pipeline/transfers/assets.py) reads it.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at runtime.
import re
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline import io
from pipeline.ops import queries as q
from pipeline.resources import StudyPaths
from pipeline.specs.raw import load_raw_spec
from pipeline.storage import PARTS_KEY
from pipeline.versions import code_version

# What the code versions of this module's assets hash (pipeline/versions.py).
CODE_SOURCES = ("pipeline/ops/*.py", "specs/raw/*")

KEY = dg.AssetKey(["ops", "query_listing"])
SAMPLE_ROWS = 20


def _arg_name(key: dg.AssetKey) -> str:
    return re.sub(r"\W", "_", "__".join(key.path))


def _problems(value: object, attr: str) -> pd.DataFrame | None:
    """The problem frame of an upstream value (FormExtract.quarantine, DomainResult.queries, AdamResult.issues)."""
    if isinstance(value, pd.DataFrame):
        return value
    frame = getattr(value, attr, None)
    drops = getattr(value, "drops", None) if attr == "quarantine" else None  # FormExtract's drop-level queries
    if drops is not None and not drops.empty:
        return drops if frame is None or frame.empty else pd.concat([frame, drops], ignore_index=True)
    return frame


def write_site_files(out_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Take the queries folder and {name: bytes}; write each atomically, delete listings no longer produced."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        io.write_bytes(out_dir / name, data)
    for stale in sorted([*out_dir.glob("*.csv"), *out_dir.glob("*.xlsx")]):
        # A listing of a site id that no longer occurs would otherwise keep showing fixed problems.
        if stale.name not in files:
            stale.unlink()
    return [out_dir / n for n in files]


def build_query_listing_asset(
    raw_keys: Sequence[Sequence[str] | dg.AssetKey],
    sdtm_keys: Sequence[Sequence[str] | dg.AssetKey],
    adam_keys: Sequence[Sequence[str] | dg.AssetKey],
) -> dg.AssetsDefinition:
    """Take the upstream asset keys of each layer; return the query-listing asset reading all of them."""
    layers = {"quarantine": raw_keys, "queries": sdtm_keys, "issues": adam_keys}
    ins: dict[str, dg.AssetIn] = {}
    attr_of: dict[str, str] = {}
    for attr, keys in layers.items():
        for k in keys:
            key = k if isinstance(k, dg.AssetKey) else dg.AssetKey(list(k))
            # Only the problem frame of each upstream value is loaded (pipeline/storage.py).
            parts = [attr, "drops"] if attr == "quarantine" else [attr]
            ins[_arg_name(key)] = dg.AssetIn(key=key, metadata={PARTS_KEY: parts})
            attr_of[_arg_name(key)] = attr

    @dg.asset(
        key=KEY,
        group_name="ops",
        ins=ins,
        kinds={"pandas", "csv", "excel"},
        description=(
            "Query listings for the sites: every raw quarantine, SDTM mapping query and ADaM issue, "
            "one CSV (UTF-8 with BOM) and one XLSX per site under `outputs/queries/`. Query ids stay "
            "the same from night to night while a problem stays; identifier values are redacted."
        ),
        code_version=code_version(CODE_SOURCES),
    )
    def query_listing(context: dg.AssetExecutionContext, paths: StudyPaths, **inputs) -> dg.Output:
        spec = load_raw_spec()
        by_layer = {a: [_problems(inputs[n], a) for n in sorted(inputs) if attr_of[n] == a] for a in layers}
        listing = q.build_listing(by_layer["quarantine"], by_layer["queries"], by_layer["issues"], spec, raw_dir=paths.raw)
        written = write_site_files(paths.out / "queries", q.site_files(listing, spec.sites))
        info = q.summary(listing, spec.sites, SAMPLE_ROWS)
        context.log.info(f"{info['total']} open queries: {info['by_site']}")
        return dg.Output(
            listing,
            metadata={
                "dagster/row_count": info["total"],
                "queries by site": dg.MetadataValue.json(info["by_site"]),
                "counts by rule and site": dg.MetadataValue.md(info["counts_md"]),
                "sample": dg.MetadataValue.md(info["sample_md"]),
                "folder": dg.MetadataValue.path(str(paths.out / "queries")),
                "files": dg.MetadataValue.md("\n".join(f"- `{p.name}`" for p in written)),
            },
        )

    return query_listing
