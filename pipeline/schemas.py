"""Everything the pipeline checks or shows about a dataset, generated from its spec.

- ``pandera_schema(spec)``: the pandera schema of a dataset (SDTM or ADaM) built from
  ``specs/<layer>/<name>.yaml`` and the controlled terminology of ``specs/ct``.
- ``validate_frame(df, spec)``: run it lazily; ``(ok, failures)`` with one row per failing value
  (row index, column, check, value), never raising for a data problem.
- ``dagster_column_schema(spec)``, ``column_lineage(spec)``, ``lineage_markdown(spec)``: the
  column table, column lineage and variable-lineage markdown the Dagster UI shows.

Checks generated per variable:

- the dataset has exactly the spec's columns, in spec order (``strict``/``ordered``);
- Char values are strings, Num values are numbers (ints or floats; NA allowed unless Req);
- Req variables are never null (nor blank for Char);
- Char values fit the spec length in bytes of UTF-8 (a CJK character counts 3);
- values of a variable with a codelist are terms of that codelist. This applies to extensible
  codelists too: ``specs/ct`` holds the terms the study uses (the CDISC subset plus the sponsor's
  extensions), i.e. the define.xml value list, so a new value must be added to ``specs/ct`` (by
  ``tools/extract_ct.py`` or in ``sponsor_ct.csv``) before it can be submitted;
- ``--DTC`` values are ISO 8601 dates, complete or partial (YYYY, YYYY-MM, YYYY-MM-DD), with an
  optional time (Thh, Thh:mm, Thh:mm:ss[.f]); complete dates must exist in the calendar;
- value-level codelists: on records matching a ``value_level`` entry's ``where``, the variable's
  value is a term of the entry's codelist.

Checks generated per dataset: ``--SEQ`` unique within USUBJID; the natural keys unique;
USUBJID starts with ``STUDYID-`` (and in DM equals ``STUDYID-SITEID-SUBJID``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow  # "pa" is pandera in this module
import pyarrow.compute as pc
from pandera.errors import SchemaError, SchemaErrors

from pipeline.columns import (
    arrow_text,
    is_text_dtype,
    utf8_buffers,
    utf8_nbytes,
)
from pipeline.specs.ct import Codelist, load_ct
from pipeline.specs.datasets import DatasetSpec, VariableSpec, source_asset_key
from pipeline.specs.paths import SPECS_DIR

ISO8601_RE = re.compile(
    r"^\d{4}"
    r"(-(0[1-9]|1[0-2])"
    r"(-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3])(:[0-5]\d(:[0-5]\d(\.\d+)?)?)?)?"
    r")?)?$"
)
# The same pattern for Arrow's RE2 on ASCII values: there Python's \d is [0-9], and its $ also
# matches before one final newline (RE2's $ does not).
_ISO8601_ASCII_RE2 = ISO8601_RE.pattern.replace(r"\d", "[0-9]")[:-1] + r"\n?$"
FAILURE_COLUMNS = ["row", "column", "check", "value"]
MAX_VALUE_CHARS = 200


# --------------------------------------------------------------------------------------------
# element-wise checks (vectorised; each passes nulls: the nullable check is the one about them)


def _all_str(s: pd.Series) -> bool:
    """True when every (non-null) value is a str: one pass in C for the usual case."""
    if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        return True
    return pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")


def _null(s: pd.Series) -> np.ndarray:
    """Where the column is null (None/NaN/NA), from Arrow's validity when the values are text.

    The column checks run with ``ignore_na=False`` and pass nulls themselves: pandera's own
    null handling scans an object column three times per check (``hasnans``, ``dropna``, ``isna``).
    """
    arr = arrow_text(s) if is_text_dtype(s) else None
    if arr is not None:
        return arr.is_null().to_numpy(zero_copy_only=False)
    return pd.isna(s).to_numpy(dtype=bool)


def _text(s: pd.Series) -> arrow.Array:
    """A Char column's values as one Arrow string array, the one form every text check reads.

    finalize gives every Char variable the ``TEXT`` dtype, so this is the column's own buffers; a
    frame made elsewhere (a test, a hand-edited frame) is converted once, a value that is not a str
    becoming null here (``type Char`` is the check that reports it).
    """
    arr = arrow_text(s) if is_text_dtype(s) else None
    if arr is not None:
        return arr
    values = [x if isinstance(x, str) else None for x in s.to_numpy(dtype=object)]
    try:
        return arrow.array(values, type=arrow.string())
    except (arrow.ArrowException, UnicodeEncodeError):  # a lone surrogate: not text a file can hold
        return arrow.array([x if x is not None and _utf8(x) else None for x in values], type=arrow.string())


def _utf8(x: str) -> bool:
    try:
        x.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_text(s: pd.Series) -> pd.Series:
    if _all_str(s):
        return pd.Series(True, index=s.index)
    return pd.Series(_null(s), index=s.index) | s.map(lambda x: isinstance(x, str))


def _is_number(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return pd.Series(True, index=s.index)
    number = s.map(lambda x: isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_)))
    return pd.Series(_null(s), index=s.index) | number


def _starts_printable(arr: arrow.Array) -> np.ndarray:
    """True where a value's first byte is printable ASCII other than space (0x21-0x7E), or the
    value is null; read from the array's offsets and bytes, no per-value work."""
    offsets, data = utf8_buffers(arr)
    starts, filled = offsets[:-1], np.diff(offsets) > 0
    first = np.zeros(len(arr), dtype=np.uint8)
    first[filled] = data[starts[filled]]
    sure = (first >= 0x21) & (first <= 0x7E)
    if arr.null_count:
        sure |= arr.is_null().to_numpy(zero_copy_only=False)
    return sure


def _not_blank(s: pd.Series) -> pd.Series:
    arr = _text(s)
    # A value starting with a printable ASCII character other than space is not blank; str.strip
    # runs on the rest only. A null is the nullable check's to report, not this one's.
    sure = _starts_printable(arr)
    ok = sure.copy()
    rest = ~sure
    if rest.any():
        ok[rest] = [x is None or x.strip() != "" for x in arr.filter(arrow.array(rest)).to_pylist()]
    return pd.Series(ok, index=s.index)


def _max_bytes(length: int) -> Callable[[pd.Series], pd.Series]:
    def check(s: pd.Series) -> pd.Series:
        # Byte lengths in C instead of encoding every value in Python (a null is 0).
        return pd.Series(utf8_nbytes(_text(s)) <= length, index=s.index)

    return check


def _in_terms(values: frozenset[str]) -> Callable[[pd.Series], pd.Series]:
    value_set = arrow.array(sorted(values), type=arrow.string())

    def check(s: pd.Series) -> pd.Series:
        arr = _text(s)  # a null passes (the nullable check's business)
        ok = pc.or_(pc.is_in(arr, value_set=value_set), arr.is_null())
        return pd.Series(ok.to_numpy(zero_copy_only=False), index=s.index)

    return check


def _iso8601(s: pd.Series) -> pd.Series:
    arr = _text(s)
    # RE2 in C on the ASCII values (as ever, ISO8601_RE in Python on any other value), then
    # the same calendar test on the complete dates.
    # A null is ASCII and passes (the nullable check reports it where it is not allowed).
    ascii_ = pc.string_is_ascii(arr).fill_null(True).to_numpy(zero_copy_only=False)
    ok = pc.match_substring_regex(arr, _ISO8601_ASCII_RE2).fill_null(True).to_numpy(zero_copy_only=False) & ascii_
    if not ascii_.all():
        other = pd.Series(arr.filter(arrow.array(~ascii_)).to_pylist(), dtype=object)
        ok[~ascii_] = other.str.match(ISO8601_RE.pattern).fillna(False).astype(bool).to_numpy()
    full = ok & (pc.utf8_length(arr).fill_null(0).to_numpy(zero_copy_only=False) >= 10)
    if full.any():
        text = pd.Series(arr.filter(arrow.array(full)).to_pylist(), dtype=object)
        parsed = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
        ok[full] = parsed.notna().to_numpy()
    return pd.Series(ok, index=s.index)


# --------------------------------------------------------------------------------------------
# record-level checks: return a boolean Series (True = the row passes)


def _unique_within(columns: list[str]) -> Callable[[pd.DataFrame], pd.Series]:
    def check(df: pd.DataFrame) -> pd.Series:
        if not set(columns) <= set(df.columns):
            return pd.Series(True, index=df.index)
        sub = df[columns]
        return ~sub.duplicated(keep=False)

    return check


def _usubjid_consistent(is_dm: bool) -> Callable[[pd.DataFrame], pd.Series]:
    def check(df: pd.DataFrame) -> pd.Series:
        if not {"USUBJID", "STUDYID"} <= set(df.columns):
            return pd.Series(True, index=df.index)
        u, s = _text(df["USUBJID"]), _text(df["STUDYID"])
        ok = np.ones(len(df), dtype=bool)  # a null (or a value that is not text) is another check's
        # One Arrow starts_with per distinct STUDYID (one in practice) instead of a Python loop.
        sp = s.to_numpy(zero_copy_only=False)
        for b in pd.unique(sp[pd.notna(sp)]):
            at = sp == b
            ok[at] = pc.starts_with(u.filter(arrow.array(at)), pattern=f"{b}-").fill_null(True).to_numpy(zero_copy_only=False)
        if is_dm and {"SITEID", "SUBJID"} <= set(df.columns):
            # Element-wise concatenation and == in C; null where any part is missing.
            parts = [x.cast(arrow.large_string()) for x in (s, _text(df["SITEID"]), _text(df["SUBJID"]))]
            same = pc.equal(
                u.cast(arrow.large_string()), pc.binary_join_element_wise(*parts, arrow.scalar("-", arrow.large_string()))
            )
            full = same.is_valid().to_numpy(zero_copy_only=False)
            ok[full] = same.filter(same.is_valid()).to_numpy(zero_copy_only=False)
        return pd.Series(ok, index=df.index)

    return check


def _value_level_terms(
    variable: str, where: tuple[tuple[str, str], ...], values: frozenset[str]
) -> Callable[[pd.DataFrame], pd.Series]:
    value_set = arrow.array(sorted(values), type=arrow.string())

    def check(df: pd.DataFrame) -> pd.Series:
        if variable not in df.columns or not all(k in df.columns for k, _ in where):
            return pd.Series(True, index=df.index)
        match = np.ones(len(df), dtype=bool)
        for k, v in where:  # the where-clauses name Char variables; a null never matches
            match &= pc.equal(_text(df[k]), v).fill_null(False).to_numpy(zero_copy_only=False)
        val = _text(df[variable])
        inside = pc.is_in(val, value_set=value_set).to_numpy(zero_copy_only=False)  # hash lookups in C
        bad = match & val.is_valid().to_numpy(zero_copy_only=False) & ~inside
        return pd.Series(~bad, index=df.index)

    return check


# --------------------------------------------------------------------------------------------


def _terms(ct: dict[str, Codelist], names: tuple[str, ...]) -> frozenset[str]:
    out: set[str] = set()
    for n in names:
        out.update(ct[n].values)
    return frozenset(out)


def _column(v: VariableSpec, ct: dict[str, Codelist]) -> pa.Column:
    checks: list[pa.Check] = []
    # ignore_na=False: each check passes nulls itself (see _null).
    if v.type == "Char":
        checks.append(pa.Check(_is_text, name="type Char", ignore_na=False))
        checks.append(pa.Check(_max_bytes(v.length), name=f"max {v.length} bytes", ignore_na=False))
        if v.core == "Req":
            checks.append(pa.Check(_not_blank, name="Req not blank", ignore_na=False))
        if v.codelists:
            checks.append(pa.Check(_in_terms(_terms(ct, v.codelists)), name=f"codelist {'|'.join(v.codelists)}", ignore_na=False))
        if v.is_date:
            checks.append(pa.Check(_iso8601, name="ISO 8601 date", ignore_na=False))
    else:
        checks.append(pa.Check(_is_number, name="type Num", ignore_na=False))
    return pa.Column(
        dtype=None,
        checks=checks,
        nullable=v.core != "Req",
        required=True,
        title=v.label,
        description=f"{v.label} ({v.origin})",
    )


def pandera_schema(spec: DatasetSpec, root: Path = SPECS_DIR) -> pa.DataFrameSchema:
    """The pandera schema of ``spec`` (see the module docstring for the checks generated).

    ``schema.metadata["record_checks"]`` maps each dataset-level check name to the columns it
    is about (``validate_frame`` uses it to name the failing column).
    """
    ct = load_ct(root)
    columns = {v.name: _column(v, ct) for v in spec.variables}
    record_checks: dict[str, list[str]] = {}
    checks: list[pa.Check] = []

    def add(name: str, fn: Callable[[pd.DataFrame], pd.Series], cols: list[str]) -> None:
        record_checks[name] = cols
        # ignore_na=False: pandera would otherwise test the whole frame for all-null rows per check.
        checks.append(pa.Check(fn, name=name, ignore_na=False))

    seq = spec.seq_variable
    if seq and "USUBJID" in spec:
        add(f"{seq} unique within USUBJID", _unique_within(["USUBJID", seq]), [seq])
    if spec.keys:
        add(f"natural keys unique ({', '.join(spec.keys)})", _unique_within(list(spec.keys)), list(spec.keys))
    if "USUBJID" in spec and "STUDYID" in spec:
        rule = "USUBJID = STUDYID-SITEID-SUBJID" if spec.name == "DM" else "USUBJID starts with STUDYID-"
        add(rule, _usubjid_consistent(spec.name == "DM"), ["USUBJID"])
    for vl in spec.value_level:
        if vl.codelists:
            name = f"codelist {'|'.join(vl.codelists)} for {vl.variable} where {vl.where_text}"
            add(name, _value_level_terms(vl.variable, vl.where, _terms(ct, vl.codelists)), [vl.variable])

    return pa.DataFrameSchema(
        columns=columns,
        checks=checks,
        strict=True,
        ordered=True,
        name=spec.name,
        title=spec.label,
        description=spec.structure,
        metadata={"record_checks": record_checks},
    )


def _value_text(x: object) -> str | None:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    s = str(x)
    return s if len(s) <= MAX_VALUE_CHARS else s[: MAX_VALUE_CHARS - 3] + "..."


def _failure_table(fc: pd.DataFrame, record_checks: dict[str, list[str]]) -> pd.DataFrame:
    rows: list[dict] = []
    grouped: dict[tuple[str, object], dict[str, object]] = {}
    for r in fc.itertuples(index=False):
        check = str(r.check)
        idx = r.index
        idx = None if idx is None or (isinstance(idx, float) and np.isnan(idx)) else idx
        if r.schema_context == "DataFrameSchema" and check in record_checks:
            cols = record_checks[check]
            if r.column in cols:
                grouped.setdefault((check, idx), {})[str(r.column)] = r.failure_case
            continue
        column = r.column if r.column is not None else None
        if check in ("column_in_dataframe", "column_in_schema", "column_ordered"):
            column = _value_text(r.failure_case)
        rows.append({"row": idx, "column": column, "check": check, "value": _value_text(r.failure_case)})
    for (check, idx), cells in grouped.items():
        cols = record_checks[check]
        rows.append(
            {
                "row": idx,
                "column": ", ".join(c for c in cols if c in cells),
                "check": check,
                "value": _value_text(" | ".join("" if cells.get(c) is None else str(cells.get(c)) for c in cols if c in cells)),
            }
        )
    out = pd.DataFrame(rows, columns=FAILURE_COLUMNS).astype(object)
    return out.where(out.notna(), None)


def validate_frame(df: pd.DataFrame, spec: DatasetSpec, max_failures: int = 1000) -> tuple[bool, pd.DataFrame]:
    """Validate ``df`` against ``spec`` lazily.

    Returns ``(ok, failures)``; ``failures`` has columns ``row`` (the frame's index label, None
    for a dataset-level problem such as a missing column), ``column``, ``check`` and ``value``
    (the failing value as text, at most 200 characters), at most ``max_failures`` rows. A data
    problem never raises.
    """
    schema = pandera_schema(spec)
    record_checks = schema.metadata["record_checks"]
    try:
        schema.validate(df, lazy=True)
        return True, pd.DataFrame(columns=FAILURE_COLUMNS)
    except SchemaErrors as exc:
        table = _failure_table(exc.failure_cases, record_checks)
    except SchemaError as exc:  # pragma: no cover - lazy mode collects errors, kept for safety
        table = pd.DataFrame([{"row": None, "column": None, "check": str(exc.check), "value": _value_text(exc.failure_cases)}])
    if table.empty:  # pandera reported an error without failure cases
        table = pd.DataFrame([{"row": None, "column": None, "check": "schema", "value": "validation failed"}])
    table = table.sort_values(["check", "column", "row"], key=lambda s: s.astype(str), kind="mergesort").reset_index(drop=True)
    return False, table.head(max_failures)


# --------------------------------------------------------------------------------------------
# failing rows as a data manager reads them

MAX_TERMS_LISTED = 12
_BUILTIN_RULES = {
    "not_nullable": "required (core Req): must have a value",
    "column_in_dataframe": "a variable of the spec is missing from the dataset",
    "column_in_schema": "a variable not in the spec",
    "column_ordered": "variables not in the spec's order",
    "dtype": "wrong data type",
}


def rule_text(check: str, root: Path = SPECS_DIR) -> str:
    """Take a check name of :func:`pandera_schema`; return the rule in plain words (allowed terms listed when few)."""
    if check in _BUILTIN_RULES:
        return _BUILTIN_RULES[check]
    m = re.fullmatch(r"codelist ([^ ]+)( for .*)?", check)
    if m:
        names = tuple(m.group(1).split("|"))
        try:
            terms = sorted(_terms(load_ct(root), names))
        except KeyError:
            return f"must be a term of codelist {m.group(1)}{m.group(2) or ''}"
        listed = ", ".join(terms) if len(terms) <= MAX_TERMS_LISTED else f"{len(terms)} terms"
        return f"must be a term of codelist {m.group(1)}{m.group(2) or ''}: {listed}"
    m = re.fullmatch(r"max (\d+) bytes", check)
    if m:
        return f"at most {m.group(1)} bytes in UTF-8 (a Chinese character counts 3)"
    return {
        "Req not blank": "required (core Req): must not be blank",
        "type Char": "must be text",
        "type Num": "must be a number",
        "ISO 8601 date": "must be an ISO 8601 date (YYYY, YYYY-MM or YYYY-MM-DD, optional time), a real calendar date",
    }.get(check, check)


def _natural(s: str) -> str:
    return re.sub(r"\d+", lambda m: m.group().zfill(12), s)


def failing_rows(
    data: pd.DataFrame, failures: pd.DataFrame, spec: DatasetSpec, lineage: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Take the validated frame, :func:`validate_frame`'s failures, the spec and the record lineage
    (USUBJID, RECORD = --SEQ or row number, RAWFILE, RAWROW; None for ADaM); return one row per
    failing value with USUBJID, the --SEQ (column named after it, ``record`` without one), ``raw file``,
    ``raw row``, ``variable``, ``value`` and ``rule`` (plain words), sorted by subject (natural order),
    --SEQ as a number, variable; dataset-level problems first.
    """
    seq = spec.seq_variable
    seq_col = seq or "record"
    cols = ["USUBJID", seq_col, "raw file", "raw row", "variable", "value", "rule"]
    if failures is None or failures.empty:
        return pd.DataFrame(columns=cols)
    where: dict[tuple, tuple[str, str]] = {}
    if lineage is not None and not lineage.empty and "RAWFILE" in lineage:
        lin = lineage.dropna(subset=["RECORD"])
        subj = lin["USUBJID"].astype(str) if "USUBJID" in lin else pd.Series("", index=lin.index)
        for u, rec, f, r in zip(subj, lin["RECORD"], lin["RAWFILE"], lin["RAWROW"]):
            if f is None or (isinstance(f, float) and np.isnan(f)) or pd.isna(f):
                continue
            key = (u if seq else "", float(rec))
            old = where.get(key)
            row = "" if pd.isna(r) else str(int(r))
            where[key] = (f"{old[0]}; {f}", f"{old[1]}; {row}") if old else (str(f), row)
    labels = list(data.index)
    position = {lab: i for i, lab in enumerate(labels)}
    out = []
    for r in failures.itertuples(index=False):
        rec = {
            "USUBJID": None,
            seq_col: None,
            "raw file": None,
            "raw row": None,
            "variable": r.column,
            "value": r.value,
            "rule": rule_text(str(r.check)),
        }
        if r.row is not None and r.row in position:
            u = data.at[r.row, "USUBJID"] if "USUBJID" in data else None
            rec["USUBJID"] = None if pd.isna(u) else str(u)
            n = data.at[r.row, seq] if seq and seq in data else position[r.row] + 1
            rec[seq_col] = None if pd.isna(n) else int(n)
            hit = where.get(((rec["USUBJID"] or "") if seq else "", float(rec[seq_col]))) if rec[seq_col] is not None else None
            if hit:
                rec["raw file"], rec["raw row"] = hit
        out.append(rec)
    table = pd.DataFrame(out, columns=cols)
    order = pd.DataFrame(
        {
            "has_row": table[seq_col].notna(),
            "subj": table["USUBJID"].map(lambda u: _natural(u) if isinstance(u, str) else ""),
            "seq": pd.to_numeric(table[seq_col], errors="coerce").fillna(-1),
            "var": table["variable"].astype(str),
            "rule": table["rule"].astype(str),
        }
    )
    idx = order.sort_values(["has_row", "subj", "seq", "var", "rule"], kind="mergesort").index
    table = table.loc[idx].reset_index(drop=True).astype(object)
    return table.where(table.notna(), None)


def failing_rows_table(rows: pd.DataFrame, max_rows: int = 100) -> dg.TableMetadataValue:
    """:func:`failing_rows` as a Dagster table (the UI shows it inline on the check)."""
    # Text throughout: raw row may hold several rows ("5; 9") when a record came from more than one raw record.
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in rows.columns])
    records = [
        dg.TableRecord({c: (None if v is None else str(v)) for c, v in zip(rows.columns, vals)})
        for vals in rows.head(max_rows).itertuples(index=False, name=None)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


# --------------------------------------------------------------------------------------------
# Dagster metadata


def _column_type(v: VariableSpec) -> str:
    return "string" if v.type == "Char" else "float"


def dagster_column_schema(spec: DatasetSpec) -> dg.TableSchema:
    """Column names, types, descriptions (label and origin) and constraints for the Dagster UI."""
    columns = []
    for v in spec.variables:
        other = [f"{v.type} {v.length}", f"core {v.core}"]
        if v.codelists:
            other.append(f"codelist {'|'.join(v.codelists)}")
        if v.dictionary:
            other.append(f"dictionary {v.dictionary}")
        columns.append(
            dg.TableColumn(
                name=v.name,
                type=_column_type(v),
                description=f"{v.label} — {v.origin}" + (f": {v.derivation}" if v.derivation else ""),
                constraints=dg.TableColumnConstraints(nullable=v.core != "Req", other=other),
            )
        )
    return dg.TableSchema(columns=columns)


def column_lineage(spec: DatasetSpec) -> dg.TableColumnLineage:
    """Column lineage from the spec's ``sources`` (variable and value-level).

    ``<form>.<FIELD>`` -> asset ``["raw", form]``; ``<DATASET>.<VAR>`` -> ``[layer, dataset]``.
    References to the dataset itself (e.g. --SEQ ordered by --STDTC) are left out.
    """
    deps: dict[str, list[dg.TableColumnDep]] = {}
    seen: dict[str, set[tuple[tuple[str, ...], str]]] = {}
    own = [spec.layer, spec.name.lower()]

    def add(var: str, sources: tuple[str, ...]) -> None:
        for s in sources:
            path, column = source_asset_key(s)
            if path == own:
                continue
            key = (tuple(path), column)
            if key in seen.setdefault(var, set()):
                continue
            seen[var].add(key)
            deps.setdefault(var, []).append(dg.TableColumnDep(asset_key=dg.AssetKey(path), column_name=column))

    for v in spec.variables:
        add(v.name, v.sources)
    for vl in spec.value_level:
        add(vl.variable, vl.sources)
    return dg.TableColumnLineage(deps_by_column=deps)


def _md(text: object) -> str:
    if text is None:
        return ""
    return str(text).replace("|", "\\|").replace("\n", " ")


def lineage_markdown(spec: DatasetSpec) -> str:
    """Variable, label, origin, sources and derivation as a markdown table (value-level below)."""
    lines = [
        f"**{spec.name}** — {_md(spec.label)} ({_md(spec.structure)})",
        "",
        "| Variable | Label | Origin | Sources | Derivation |",
        "|---|---|---|---|---|",
    ]
    for v in spec.variables:
        cl = f" [{', '.join(v.codelists)}]" if v.codelists else ""
        lines.append(f"| {v.name} | {_md(v.label)}{cl} | {v.origin} | {_md(', '.join(v.sources))} | {_md(v.derivation)} |")
    if spec.value_level:
        lines += ["", "| Variable | Where | Origin | Sources | Derivation |", "|---|---|---|---|---|"]
        for vl in spec.value_level:
            cl = f" [{', '.join(vl.codelists)}]" if vl.codelists else ""
            lines.append(
                f"| {vl.variable}{cl} | {_md(vl.where_text)} | {vl.origin} | {_md(', '.join(vl.sources))} | {_md(vl.derivation)} |"
            )
    return "\n".join(lines)
