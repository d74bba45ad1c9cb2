"""The site listings the sites and the data manager send back, read from a responses folder.

A returned listing is the ``<site>.xlsx`` (or ``.csv``) of pipeline/ops/queries.py with its two
return columns filled in: ``site_response`` (the site's answer) and ``dm_decision`` (the data
manager's CANCEL or CLOSE, pipeline/transfers/register.py). Only ``query_id`` and those two
columns are read; every other column may be edited, reordered or deleted by the site.

Nothing a site returns may stop the pipeline: a damaged workbook, a missing column, an unknown
query id or decision is a problem row (file, row, field, value, message) and the rest is read.
Workbooks are bounded by the raw reader's limits (pipeline/raw/workbook.py) before they are parsed.

Also here: the Dagster sensor that requests a run when a returned listing appears or changes, and
its job. The run materializes ``transfers/returned_listings`` (pipeline/transfers/assets.py), which
reads the folder as it is now and shows every problem (check ``returned_listings_read``) within
minutes of the file landing; the answers change the register with the next transfer, which stores
the folder with its snapshot (pipeline/transfers/snapshot.py), so a rebuilt transfer gives the same
register.
"""

# No `from __future__ import annotations`: Dagster reads the sensor's resource annotation at runtime.
import csv
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from python_calamine import CalamineError, CalamineWorkbook

from pipeline.ops.automation import STUDY_TAG, drop_manifest, evaluate_drop
from pipeline.raw.limits import load_limits
from pipeline.raw.workbook import WorkbookLimitError, check_sheet, inspect_workbook
from pipeline.resources import TransferHistory
from pipeline.transfers.register import DM_DECISIONS, RESPONSE_COLS

PROBLEM_COLS = ["file", "row", "field", "value", "message"]
REQUIRED = ["query_id", "site_response", "dm_decision"]
SHEET = "queries"
SUFFIXES = (".xlsx", ".csv")
RESPONSE_CHARS = 2000  # a longer answer is cut, and said so
RESPONSES_DIR_ENV = "PIPELINE_RESPONSES_DIR"
DIGEST_TAG = "pipeline/responses_digest"
# Excel's own lock file while a workbook is open (~$101.xlsx) is not a returned listing.
_LOCK_PREFIX = "~$"
RETURNED_KEY = dg.AssetKey(["transfers", "returned_listings"])
RETURNED_CHECK = "returned_listings_read"
JOB_NAME = "returned_listings_check"


@dataclass(frozen=True)
class Responses:
    """What a responses folder held: the answers (RESPONSE_COLS) and the problems met (PROBLEM_COLS)."""

    frame: pd.DataFrame
    problems: pd.DataFrame


def _frame(rows: list[dict], cols: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    df["row"] = pd.array([None if r is None or pd.isna(r) else int(r) for r in df["row"]], dtype="Int64")
    return df


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _xlsx_rows(path: Path, rel: str) -> list[list[str]]:
    """The listing sheet of a returned workbook as text rows (row 0 = header). Raises ValueError with the message."""
    if path.stat().st_size == 0:
        raise ValueError(f"{rel}: the file is empty")
    limits = load_limits()
    try:
        sheets = inspect_workbook(path, rel, limits)
    except WorkbookLimitError as e:
        raise ValueError(str(e)) from None
    if sheets is None:
        raise ValueError(
            f"{rel}: not a readable Excel workbook (not a complete .xlsx zip archive); ask the site to save it again as .xlsx"
        )
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as e:
        raise ValueError(f"{rel}: not a readable Excel workbook ({type(e).__name__}: {e})") from None
    try:
        names = list(wb.sheet_names)
        by_fold = {n.strip().casefold(): n for n in names}
        sheet = by_fold.get(SHEET) or (names[0] if len(names) == 1 else None)
        if sheet is None:
            raise ValueError(f"{rel}: no sheet named {SHEET!r} (sheets found: {', '.join(map(repr, names))}); not read")
        info = sheets.get(sheet)
        if info is not None:
            try:
                check_sheet(info, rel, limits)
            except WorkbookLimitError as e:
                raise ValueError(str(e)) from None
        rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except CalamineError as e:
        raise ValueError(f"{rel}: the workbook's contents cannot be read ({type(e).__name__}: {e})") from None
    finally:
        wb.close()
    return [[_cell(v) for v in r] for r in rows]


def _csv_rows(path: Path, rel: str) -> list[list[str]]:
    """A returned CSV listing as text rows: UTF-8 (with or without BOM) as written, or GB18030 after a re-save."""
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{rel}: the file is empty")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"{rel}: neither UTF-8 nor GB18030 text; ask the site to save it as CSV UTF-8")
    if "\x00" in text:
        raise ValueError(f"{rel}: holds NUL bytes; not a CSV listing")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise ValueError(f"{rel}: not a readable CSV ({e})") from None
    # The listing writer protects text starting with = + - @ with a leading apostrophe (pipeline/ops/queries.py).
    return [[c[1:] if c[:1] == "'" and c[1:2] in ("=", "+", "-", "@") else c for c in r] for r in rows]


def _read_file(path: Path, rel: str, known: set[str] | None, decisions: set[str]) -> tuple[list[dict], list[dict]]:
    answers: list[dict] = []
    problems: list[dict] = []

    def problem(row: int | None, field: str, value: str, message: str) -> None:
        problems.append({"file": rel, "row": row, "field": field, "value": value, "message": message})

    try:
        rows = _xlsx_rows(path, rel) if path.suffix.lower() == ".xlsx" else _csv_rows(path, rel)
    except (ValueError, OSError) as e:
        problem(None, "", "", f"{e}" if isinstance(e, ValueError) else f"{rel}: cannot be read ({e})")
        return answers, problems
    if not rows:
        problem(None, "", "", f"{rel}: the file is empty (no header row)")
        return answers, problems
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        problem(1, ",".join(missing), "", f"{rel}: column(s) {', '.join(missing)} missing from the header row; file not read")
        return answers, problems
    dup = sorted({c for c in REQUIRED if header.count(c) > 1})
    if dup:
        problem(1, ",".join(dup), "", f"{rel}: column(s) {', '.join(dup)} appear more than once; file not read")
        return answers, problems
    at = {c: header.index(c) for c in REQUIRED}
    for n, cells in enumerate(rows[1:], start=2):
        got = {c: (cells[i] if i < len(cells) else "").strip() for c, i in at.items()}
        qid, answer, decision = got["query_id"], got["site_response"], got["dm_decision"]
        if not (qid or answer or decision):
            continue
        if not qid:
            problem(n, "query_id", "", f"{rel} row {n}: a response without a query_id; not read")
            continue
        if known is not None and qid not in known:
            problem(n, "query_id", qid, f"{rel} row {n}: query_id {qid!r} is not a query of this study's register; not read")
            continue
        if not (answer or decision):
            continue
        dec = decision.upper()
        if dec and dec not in decisions:
            allowed = " or ".join(sorted(decisions))
            problem(
                n, "dm_decision", decision, f"{rel} row {n}: dm_decision {decision!r} is not {allowed}; the decision is ignored"
            )
            dec = ""
        if len(answer) > RESPONSE_CHARS:
            problem(
                n,
                "site_response",
                answer[:40],
                f"{rel} row {n}: site_response has {len(answer)} characters; the first {RESPONSE_CHARS} are kept",
            )
            answer = answer[:RESPONSE_CHARS]
        if answer or dec:
            answers.append({"query_id": qid, "site_response": answer, "dm_decision": dec, "file": rel, "row": n})
    return answers, problems


def response_files(folder: Path) -> list[Path]:
    """Take a responses folder; return its returned listings (.xlsx/.csv, any depth, hidden and lock files skipped), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or p.name.startswith(_LOCK_PREFIX):
            continue
        if p.is_file() and p.suffix.lower() in SUFFIXES:
            out.append(p)
    return out


def parse_responses(folder: Path, known_ids: Iterable[str] | None = None) -> Responses:
    """Take a responses folder (and the register's query ids, to refuse unknown ones); return the answers
    (RESPONSE_COLS; file = path relative to the folder, row = the spreadsheet row, header = 1) in file then
    row order, and every problem met (PROBLEM_COLS). Never raises for what a file holds.

    A query answered twice with different texts is a problem; the later answer in file-name order is used.
    """
    folder = Path(folder)
    known = {str(k) for k in known_ids} if known_ids is not None else None
    decisions = set(DM_DECISIONS)
    answers: list[dict] = []
    problems: list[dict] = []
    for path in response_files(folder):
        got, bad = _read_file(path, path.relative_to(folder).as_posix(), known, decisions)
        answers += got
        problems += bad
    seen: dict[str, dict] = {}
    for a in answers:
        b = seen.get(a["query_id"])
        if b is not None and (b["site_response"], b["dm_decision"]) != (a["site_response"], a["dm_decision"]):
            problems.append(
                {
                    "file": a["file"],
                    "row": a["row"],
                    "field": "query_id",
                    "value": a["query_id"],
                    "message": (
                        f"{a['file']} row {a['row']}: query {a['query_id']} was also answered differently in "
                        f"{b['file']} row {b['row']}; the answer in {a['file']} is used"
                    ),
                }
            )
        seen[a["query_id"]] = a
    return Responses(_frame(answers, RESPONSE_COLS), _frame(problems, PROBLEM_COLS))


def read_responses(folder: Path, known_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Take a responses folder; return the answers (RESPONSE_COLS). Problems: :func:`parse_responses`."""
    return parse_responses(folder, known_ids).frame


# --- the sensor ---


def responses_dir() -> Path:
    """The folder the sensor watches: $PIPELINE_RESPONSES_DIR, else ``responses``."""
    return Path(os.environ.get(RESPONSES_DIR_ENV, "responses"))


def evaluate_responses(cursor: str | None, folder: Path) -> tuple[str | None, str, str]:
    """Decide one tick: take the cursor and the folder; return (digest to run for or None, new cursor, reason).

    The folder's content hash (path -> sha256 of the listings only) decides, as for an export drop: a run
    once a new or changed content has been seen unchanged on two ticks, never twice for one content.
    """
    manifest, in_flight = drop_manifest(folder)
    listings = {
        k: v for k, v in manifest.items() if Path(k).suffix.lower() in SUFFIXES and not Path(k).name.startswith(_LOCK_PREFIX)
    }
    digest, new_cursor, reason = evaluate_drop(cursor, listings, in_flight)
    return digest, new_cursor, reason.replace("raw folder", "responses folder").replace("drop ", "responses ")


def problems_table(problems: pd.DataFrame) -> dg.TableMetadataValue:
    """Take problems (PROBLEM_COLS); return them as a Dagster table (text cells; a file-level problem has no row)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in PROBLEM_COLS])
    records = [
        dg.TableRecord({c: ("" if v is None or v is pd.NA else str(v)) for c, v in zip(PROBLEM_COLS, vals)})
        for vals in problems[PROBLEM_COLS].astype(object).itertuples(index=False, name=None)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def answer_counts(answers: pd.DataFrame) -> dict[str, int]:
    """Take the answers (RESPONSE_COLS); return the numbers a data manager reads: rows read, site answers
    (a ``site_response`` filled in) and the data manager's CANCEL and CLOSE decisions."""
    return {
        "answers": len(answers),
        "site answers": int((answers["site_response"].astype(str) != "").sum()),
        **{f"dm {d}": int((answers["dm_decision"] == d).sum()) for d in DM_DECISIONS},
    }


def build_responses_sensor(
    job: "dg.JobDefinition | dg.UnresolvedAssetJobDefinition",
    folder: Callable[[], Path] | None = None,
    partition_key: Callable[[dg.SensorEvaluationContext], str | None] | None = None,
    name: str = "returned_site_listings",
) -> dg.SensorDefinition:
    """Take the job to run (and the folder, default the ``history`` resource's responses folder, and the
    partition to run); return a sensor requesting one run per new or changed content of the responses
    folder (run key = its digest).

    It starts running with the daemon: the run it requests only reads the folder and writes nothing to
    the deliverables, and a data manager who saves a listing there expects to hear about a damaged one
    that day, not a month later when the next transfer reads it."""

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Read the returned site listings again when a site or the data manager saves a filled-in listing "
            "in the responses folder: transfers/returned_listings shows the answers and every problem (file, row, "
            "value); the next transfer applies the answers to the register."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, history: TransferHistory) -> dg.SensorResult:
        where = folder() if folder is not None else history.responses
        digest, cursor, reason = evaluate_responses(context.cursor, where)
        if digest is None:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"{where}: {reason}"), cursor=cursor)
        key = partition_key(context) if partition_key is not None else None
        context.log.info(f"{where}: {reason}; requesting a run")
        request = dg.RunRequest(
            run_key=f"responses-{digest}",
            partition_key=key,
            tags={**STUDY_TAG, "pipeline/trigger": name, DIGEST_TAG: digest},
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _sensor


# Reads the responses folder only (pipeline/transfers/assets.py): quick, and never rewrites a deliverable.
returned_listings_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(RETURNED_KEY),
    tags=STUDY_TAG,
    description="Read the returned site listings of the responses folder and show their answers and problems.",
)
responses_sensor = build_responses_sensor(returned_listings_job)
