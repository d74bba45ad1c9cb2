"""Asset checks across layers: nothing a site sent is lost on the way to SDTM.

``subjects_accounted_for`` (on ``["sdtm", "dm"]``, non-blocking): every subject of every
raw enrollment record, whether the record passed or was quarantined, is either in DM or
in a query: DM's own queries (e.g. DM_SOURCE_MISSING) or the raw quarantine of any form.
A subject in neither has vanished without a word to the site, which is a pipeline bug.

The per-record twin, ``records_accounted_for`` (rows read = passed + quarantined + exact
duplicates, per form and site), lives with the raw assets in :mod:`pipeline.raw.assets`.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation at runtime.
from collections.abc import Mapping

import dagster as dg
import numpy as np
import pandas as pd

from pipeline.ops.queries import markdown_table
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult
from pipeline.specs.raw import load_raw_spec

DM_KEY = dg.AssetKey(["sdtm", "dm"])
CHECK_NAME = "subjects_accounted_for"
# How an enrolled subject is accounted for, in the order the statuses are tried.
STATUSES = ["in_dm", "dm_query", "enrol_quarantine", "other_quarantine", "unaccounted"]
SUBJECT_COLS = ["siteid", "subjid", "status", "file", "row"]
SITE_COLS = ["siteid", "enrolled", *STATUSES]
MAX_LISTED = 50


def _keys(df: pd.DataFrame, site: str, subj: str) -> pd.Index:
    """(siteid, subjid) pairs of ``df`` as a MultiIndex of str."""
    if df is None or df.empty:
        return pd.MultiIndex.from_arrays([[], []], names=["siteid", "subjid"])
    s = df[site].astype("string").fillna("").str.strip()
    j = df[subj].astype("string").fillna("").str.strip()
    return pd.MultiIndex.from_arrays([s.to_numpy(dtype=object), j.to_numpy(dtype=object)], names=["siteid", "subjid"])


def enrolled_subjects(enrol: FormExtract) -> pd.DataFrame:
    """Every subject of a raw enrollment record (passed or quarantined), with its first file and row.

    Sites are the folders the records came in (``_site``/quarantine ``siteid``): a record
    whose SITEID disagrees is quarantined under its folder's site.
    """
    passed = pd.DataFrame(
        {"siteid": enrol.data["_site"], "subjid": enrol.data["SUBJID"], "file": enrol.data["_file"], "row": enrol.data["_row"]}
    )
    q = enrol.quarantine
    held = pd.DataFrame({"siteid": q["siteid"], "subjid": q["subjid"], "file": q["file"], "row": q["row"]})
    both = pd.concat([passed, held], ignore_index=True)
    both["siteid"] = both["siteid"].astype("string").fillna("").str.strip().astype(object)
    both["subjid"] = both["subjid"].astype("string").fillna("").str.strip().astype(object)
    both["row"] = pd.to_numeric(both["row"]).astype("int64")
    both = both.sort_values(["siteid", "file", "row"], kind="mergesort")
    return both.drop_duplicates(["siteid", "subjid"]).reset_index(drop=True)


def subject_accounting(
    enrol: FormExtract, dm: DomainResult, quarantines: Mapping[str, pd.DataFrame], siteids: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Take the enrollment extract, the DM result and every form's raw quarantine (by form name).

    Returns (per-site counts with SITE_COLS, one row per enrolled subject with SUBJECT_COLS).
    A subject's status is the first of STATUSES that applies.
    """
    subjects = enrolled_subjects(enrol)
    key = _keys(subjects, "siteid", "subjid")
    in_dm = key.isin(_keys(dm.data, "SITEID", "SUBJID"))
    dm_query = key.isin(_keys(dm.queries, "siteid", "subjid"))
    enrol_q = key.isin(_keys(quarantines.get("enrol", enrol.quarantine), "siteid", "subjid"))
    others = [q for form, q in quarantines.items() if form != "enrol" and q is not None and not q.empty]
    other_q = (
        key.isin(_keys(pd.concat(others, ignore_index=True), "siteid", "subjid")) if others else np.zeros(len(key), dtype=bool)
    )
    status = pd.Series("unaccounted", index=subjects.index, dtype=object)
    for name, hit in reversed(list(zip(STATUSES[:-1], [in_dm, dm_query, enrol_q, other_q]))):
        status[hit] = name
    subjects["status"] = status
    subjects = subjects[SUBJECT_COLS]

    sites = sorted({*(siteids or []), *subjects["siteid"]})
    table = pd.crosstab(subjects["siteid"], subjects["status"]).reindex(index=sites, columns=STATUSES, fill_value=0)
    table.insert(0, "enrolled", table.sum(axis=1))
    per_site = table.astype("int64").rename_axis("siteid").reset_index()
    per_site.columns.name = None
    return per_site[SITE_COLS], subjects


def build_subjects_check(forms: list[str]) -> dg.AssetChecksDefinition:
    """The non-blocking check ``subjects_accounted_for`` on DM, reading every raw form of ``forms``."""
    ins = {f"raw_{form}": dg.AssetIn(key=dg.AssetKey(["raw", form])) for form in forms}
    ins["dm"] = dg.AssetIn(key=DM_KEY)

    @dg.multi_asset_check(
        name=CHECK_NAME,
        specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=DM_KEY,
                blocking=False,
                additional_deps=[dg.AssetKey(["raw", form]) for form in forms],
                description=(
                    "Every subject of every raw enrollment record (passed or quarantined) is in DM or in a query "
                    "(DM's queries or the raw quarantine of any form). Metadata: counts per site and the subjects unaccounted for."
                ),
            )
        ],
        ins=ins,
    )
    def _check(context: dg.AssetCheckExecutionContext, **inputs) -> dg.AssetCheckResult:
        dm: DomainResult = inputs["dm"]
        extracts: dict[str, FormExtract] = {form: inputs[f"raw_{form}"] for form in forms}
        per_site, subjects = subject_accounting(
            extracts["enrol"], dm, {f: x.quarantine for f, x in extracts.items()}, sorted(load_raw_spec().sites)
        )
        lost = subjects[subjects["status"] == "unaccounted"]
        shown = lost.head(MAX_LISTED)
        note = f"\n\n_{len(lost) - len(shown)} more not shown._" if len(lost) > len(shown) else ""
        return dg.AssetCheckResult(
            asset_key=DM_KEY,
            check_name=CHECK_NAME,
            passed=bool(lost.empty),
            metadata={
                "enrolled_subjects": len(subjects),
                "unaccounted_subjects": len(lost),
                "per_site": dg.MetadataValue.md(markdown_table(per_site)),
                "unaccounted": dg.MetadataValue.md(markdown_table(shown[["siteid", "subjid", "file", "row"]]) + note),
            },
        )

    return _check


ops_asset_checks: list[dg.AssetChecksDefinition] = [build_subjects_check(list(load_raw_spec().forms))]
