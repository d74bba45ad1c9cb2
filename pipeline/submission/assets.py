"""Dagster wiring of the submission files (group ``submission``).

``build_submission_assets(sdtm_keys, adam_keys)`` makes one asset per layer that takes the
dataset assets as inputs and writes ``<out>/<layer>/`` (XPT + Dataset-JSON per dataset,
define.xml, define.html), and a ``manifest`` asset downstream of both. Which datasets go in
comes from the specs (``load_layer``), limited to those whose upstream asset exists, so
nothing here names a dataset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg

from pipeline.resources import StudyPaths
from pipeline.specs.datasets import load_layer
from pipeline.storage import PARTS_KEY
from pipeline.submission.manifest import write_manifest
from pipeline.submission.package import PackageResult, write_package
from pipeline.versions import code_version

# What the code versions of this module's assets hash (pipeline/versions.py).
CODE_SOURCES = ("pipeline/submission/*.py", "specs/**/*")

__all__ = ["build_submission_assets"]

GROUP = "submission"

KeyLike = dg.AssetKey | str | Sequence[str]


def _asset_key(k: KeyLike) -> dg.AssetKey:
    """An AssetKey from an AssetKey, ``"sdtm/dm"`` or ``["sdtm", "dm"]``."""
    if isinstance(k, dg.AssetKey):
        return k
    if isinstance(k, str):
        return dg.AssetKey(k.split("/"))
    return dg.AssetKey(list(k))


def _datasets(layer: str, keys: Iterable[KeyLike]) -> dict[str, Any]:
    """Spec of every dataset of ``layer`` whose asset ``[layer, name]`` is among ``keys``."""
    present = {_asset_key(k) for k in keys}
    if not present:
        return {}  # the layer is not built: its specs need not even load
    return {name: spec for name, spec in load_layer(layer).items() if dg.AssetKey([layer, name.lower()]) in present}


def _problems_md(lines: list[str], limit: int = 200) -> dg.MetadataValue:
    if not lines:
        return dg.MetadataValue.md("none")
    shown = [f"- {line}" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"- ... and {len(lines) - limit} more")
    return dg.MetadataValue.md("\n".join(shown))


def _problem_counts(problems: list) -> dict[str, int]:
    """``{"LB.VISIT non-ascii": 1374, ...}``: where the problems are, most frequent first."""
    counts: dict[str, int] = {}
    for p in problems:
        k = f"{p.dataset}.{p.variable or '-'} {p.rule}"
        counts[k] = counts.get(k, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _package_asset(layer: str, specs: dict[str, Any]) -> dg.AssetsDefinition:
    key = dg.AssetKey([GROUP, layer])
    args = {f"{layer}_{name.lower()}": name for name in specs}

    @dg.asset(
        key=key,
        group_name=GROUP,
        code_version=code_version(CODE_SOURCES),
        # Only the datasets are loaded, not their record lineage or queries (pipeline/storage.py).
        ins={
            arg: dg.AssetIn(key=dg.AssetKey([layer, name.lower()]), metadata={PARTS_KEY: ["data"]}) for arg, name in args.items()
        },
        check_specs=[
            dg.AssetCheckSpec(
                "xpt_conformance",
                asset=key,
                blocking=True,
                description="Every dataset meets the XPORT v5 / FDA rules (names, labels, ASCII, 200 bytes, size, columns = spec)",
            ),
            dg.AssetCheckSpec(
                "define_xsd", asset=key, blocking=True, description="define.xml validates against the Define-XML 2.1 schema"
            ),
            dg.AssetCheckSpec(
                "define_completeness",
                asset=key,
                description="Nothing in the specs keeps define.xml from being complete (codelists, methods, dictionary versions)",
            ),
        ],
        description=f"The {layer.upper()} submission package: one XPT v5 and one Dataset-JSON v1.1 file per dataset, "
        f"define.xml (Define-XML 2.1) and define.html, in `<out>/{layer}/`.",
        kinds={"xpt", "json", "xml"},
    )
    def _asset(context, paths: StudyPaths, **inputs):
        frames = {args[arg]: result.data for arg, result in inputs.items()}
        res: PackageResult = write_package(layer, frames, specs, paths.out / layer)
        yield dg.Output(
            {"files": res.files, "rows": res.rows},
            metadata={
                "folder": str(res.out_dir),
                "files": dg.MetadataValue.json(res.files),
                "total bytes": sum(res.files.values()),
                "rows": dg.MetadataValue.json(res.rows),
                "seconds": round(res.seconds, 3),
                "xpt problems": len(res.xpt_problems),
                "define problems": len(res.define_problems),
            },
        )
        yield dg.AssetCheckResult(
            check_name="xpt_conformance",
            passed=not res.xpt_problems,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "num_problems": len(res.xpt_problems),
                "datasets left out": dg.MetadataValue.json(sorted({p.dataset for p in res.xpt_problems})),
                "by variable and rule": dg.MetadataValue.json(_problem_counts(res.xpt_problems)),
                "problems": _problems_md([str(p) for p in res.xpt_problems]),
            },
        )
        yield dg.AssetCheckResult(
            check_name="define_xsd",
            passed=not res.xsd_errors,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"num_errors": len(res.xsd_errors), "errors": _problems_md(res.xsd_errors)},
        )
        spec_problems = [p for p in res.define_problems if not p.startswith("XSD:")]
        yield dg.AssetCheckResult(
            check_name="define_completeness",
            passed=not spec_problems,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"num_problems": len(spec_problems), "problems": _problems_md(spec_problems)},
        )

    return _asset


def _manifest_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([GROUP, "manifest"]),
        group_name=GROUP,
        code_version=code_version(CODE_SOURCES),
        deps=deps,
        description="`<out>/manifest.json`: sha256, size and rows of every output file, sha256 of every raw "
        "input, the spec version (sha256 of specs/) and the code version. Written last, then the "
        "run's staging folder is published as `<out>` in one atomic switch.",
        kinds={"json"},
    )
    def manifest(context, paths: StudyPaths) -> dg.MaterializeResult:
        import time

        t0 = time.perf_counter()
        path, doc = write_manifest(paths.out, paths.raw)
        # The package is complete and hashed: switch it in as one unit (pipeline/publish.py).
        published = paths.publish()
        return dg.MaterializeResult(
            metadata={
                "path": str(published / path.name),
                "output files": len(doc["outputs"]),
                "raw files": len(doc["raw_inputs"]),
                "spec version": doc["spec_version"],
                "code version": dg.MetadataValue.json(doc["code"]),
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )

    return manifest


def build_submission_assets(
    sdtm_keys: Iterable[KeyLike], adam_keys: Iterable[KeyLike], manifest_deps: Iterable[KeyLike] = ()
) -> list[dg.AssetsDefinition]:
    """The submission assets for the dataset assets that exist.

    ``sdtm_keys`` / ``adam_keys``: keys of the upstream dataset assets (``["sdtm", "dm"]``,
    ``"adam/adtte"`` or AssetKeys); only specs of ``specs/<layer>/`` with such an asset are
    packaged. ``manifest_deps``: further assets that write under the output folder (the
    manifest runs after them so it lists their files). Returns the package assets (none for a
    layer without datasets) and the manifest asset.
    """
    out: list[dg.AssetsDefinition] = []
    for layer, keys in (("sdtm", sdtm_keys), ("adam", adam_keys)):
        specs = _datasets(layer, keys)
        if specs:
            out.append(_package_asset(layer, specs))
    deps = [a.key for a in out] + [_asset_key(k) for k in manifest_deps]
    out.append(_manifest_asset(list(dict.fromkeys(deps))))
    return out
