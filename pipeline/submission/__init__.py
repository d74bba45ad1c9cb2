"""The submission files: XPT v5, Dataset-JSON v1.1, Define-XML 2.1 (+ define.html), manifest.

Modules: ``xpt`` (checks and writes transport files), ``datasetjson``, ``define``,
``package`` (one layer's folder), ``manifest`` and ``assets`` (the Dagster wiring,
``build_submission_assets``).
"""


def __getattr__(name: str):
    # Lazy, so the writers can be used without importing Dagster.
    if name == "build_submission_assets":
        from pipeline.submission.assets import build_submission_assets

        return build_submission_assets
    raise AttributeError(f"module 'pipeline.submission' has no attribute {name!r}")
