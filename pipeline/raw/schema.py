"""Pandera schemas of the extracted raw forms, generated from specs/raw.

One DataFrameSchema per form: every dictionary field as a column of its type (text, code
and date as ``str``; integer as nullable ``Int64``; float as ``float64``), required
fields non-null, code fields restricted to their codelist's canonical values, dates in
ISO 8601 (complete or partial) and not after the data cut-off, numbers within the
dictionary's ``min``/``max``, fields with a ``required_if`` given when its condition
holds, SITEID equal to the site folder, and the lineage columns ``_site``, ``_file``,
``_row``. It is the gate of :func:`pipeline.raw.extract.extract_form`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.columns import all_str
from pipeline.dates import ISO_DATE_RE
from pipeline.specs.raw import Form, RawField, RawSpec, load_raw_spec
from pipeline.specs.study import load_study
from pipeline.terminology import on_distinct

# Text fields hold str values (the str_values check), whether the column is object or pandas'
# Arrow-backed ``str`` dtype: pandera's own ``str`` dtype check calls isinstance on every value
# of an object column from Python, a third of raw validation time.
ANY_TEXT = None  # no dtype check: object or TEXT columns alike; STR_VALUES reads the values
DTYPES = {"text": ANY_TEXT, "code": ANY_TEXT, "date": ANY_TEXT, "integer": "Int64", "float": "float64"}


def _all_str(s: pd.Series) -> bool | pd.Series:
    """True when every non-null value is a str (one pass in C); else the per-value result (nulls pass)."""
    if all_str(s):
        return True
    return s.map(lambda x: isinstance(x, str)) | s.isna()


STR_VALUES = pa.Check(_all_str, ignore_na=False, name="str_values")


def _distinct_check(fn, name: str) -> pa.Check:
    """A check on str values evaluated once per distinct value (raw columns repeat values a lot).

    A missing value passes (whether it may be missing is the nullable check's business); the
    check finds them itself (ignore_na=False), as pandera would scan the column three times.
    """

    def check(s: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        done = fn(pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype(str))
        ok = np.append(done.eq(True).to_numpy(dtype=bool), True)  # code -1 (missing) -> True
        return pd.Series(ok[codes], index=s.index)

    return pa.Check(check, ignore_na=False, name=name)


# --- the value rules of the contract: one predicate each, used by the extractor's quarantine
# (pipeline.raw.extract, with its messages) and by this schema's gate alike.


def after_cutoff(iso: pd.Series, cutoff: str) -> pd.Series:
    """True where an ISO 8601 date (complete or partial) certainly lies after ``cutoff`` (an ISO day).

    A partial date counts from its first possible day: ``2023`` is after 2022-12-31,
    ``2022-12`` is not. ISO strings compare as dates, and a partial date is a prefix, so
    it compares as its first day would; done once per distinct value. Missing: False.
    """
    return on_distinct(iso, lambda u: u.gt(cutoff)).eq(True)


def below_min(f: RawField, values: pd.Series) -> pd.Series:
    """True where a number is below the field's ``min`` of specs/raw/dictionary.csv (missing, or no min: False)."""
    if f.min is None:
        return pd.Series(False, index=values.index)
    return values.lt(f.min).fillna(False).astype(bool)


def above_max(f: RawField, values: pd.Series) -> pd.Series:
    """True where a number is above the field's ``max`` of specs/raw/dictionary.csv (missing, or no max: False)."""
    if f.max is None:
        return pd.Series(False, index=values.index)
    return values.gt(f.max).fillna(False).astype(bool)


def out_of_range(f: RawField, values: pd.Series) -> pd.Series:
    """True where a number lies outside the field's inclusive [min, max] (OUT_OF_RANGE)."""
    return below_min(f, values) | above_max(f, values)


def required_if_missing(f: RawField, typed: pd.DataFrame, blank: pd.Series) -> pd.Series:
    """True where ``f``'s ``required_if`` condition holds on the converted values but ``f`` is ``blank``."""
    c = f.required_if
    if c is None:
        return pd.Series(False, index=typed.index)
    holds = typed[c.field].isin(c.values).to_numpy(dtype=bool)
    return pd.Series(holds & blank.to_numpy(dtype=bool), index=typed.index)


def site_mismatch(df: pd.DataFrame) -> pd.Series:
    """True where a given SITEID differs from the site folder (``_site``) the record came in."""
    return (df["SITEID"].notna() & (df["SITEID"] != df["_site"])).astype(bool)


def _column(f: RawField, spec: RawSpec, cutoff: str) -> pa.Column:
    checks: list[pa.Check] = [STR_VALUES] if DTYPES[f.type] is ANY_TEXT else []
    if f.type == "code":
        assert f.codelist is not None  # the spec loader requires a codelist for a code field
        checks.append(pa.Check.isin(list(spec.codelists[f.codelist].values), name=f"codelist_{f.codelist}"))
    elif f.type == "date":
        checks.append(_distinct_check(lambda u: u.str.match(ISO_DATE_RE), "iso8601_date"))
        checks.append(pa.Check(lambda s, c=cutoff: ~after_cutoff(s, c), ignore_na=False, name="not_after_cutoff"))
    elif f.type == "float":
        checks.append(pa.Check(lambda s: s.abs() < float("inf"), element_wise=False, ignore_na=True, name="finite"))
    elif f.type == "text":
        # Normalised text: no surrounding whitespace, never an empty string (blank is null).
        checks.append(_distinct_check(lambda u: (u.str.strip() == u) & (u != ""), "normalised_text"))
    if f.min is not None:
        checks.append(pa.Check(lambda s, f=f: ~below_min(f, s), ignore_na=False, name=f"min_{f.min:g}"))
    if f.max is not None:
        checks.append(pa.Check(lambda s, f=f: ~above_max(f, s), ignore_na=False, name=f"max_{f.max:g}"))
    return pa.Column(
        DTYPES[f.type], checks=checks, nullable=not f.required, required=True, title=f.label, description=f.description or None
    )


def _siteid_matches_folder(df: pd.DataFrame) -> pd.Series:
    return ~site_mismatch(df)


def _required_if(f: RawField):
    """Frame-level check: ``f`` is given wherever its ``required_if`` condition holds."""

    def check(df: pd.DataFrame) -> pd.Series:
        return ~required_if_missing(f, df, df[f.name].isna())

    return check


def form_schema(form: Form, spec: RawSpec | None = None, data_cutoff: str | None = None) -> pa.DataFrameSchema:
    """The schema of ``FormExtract.data`` for ``form``: columns in dictionary order, then lineage.

    ``data_cutoff`` (ISO 8601 day) defaults to ``data_cutoff`` of specs/trial/study.yaml.
    """
    spec = spec or load_raw_spec()
    cutoff = data_cutoff or load_study().data_cutoff
    columns = {f.name: _column(f, spec, cutoff) for f in form.fields}
    columns["_site"] = pa.Column(ANY_TEXT, [STR_VALUES, pa.Check.isin(sorted(spec.sites))], nullable=False)
    columns["_file"] = pa.Column(
        ANY_TEXT,
        [STR_VALUES, _distinct_check(lambda u: u.str.match(r"^[^/]+/[^/]+\.(csv|xlsx)$"), "str_matches")],
        nullable=False,
    )
    columns["_row"] = pa.Column("int64", pa.Check.ge(2), nullable=False)
    checks = [pa.Check(_siteid_matches_folder, name="siteid_matches_folder")] if "SITEID" in columns else []
    for f in form.fields:
        if f.required_if is not None:
            checks.append(pa.Check(_required_if(f), name=f"{f.name}_required_if_{f.required_if.field}"))
    return pa.DataFrameSchema(columns, checks=checks, strict=True, ordered=True, name=f"raw.{form.name}", title=form.label)


def form_schemas(spec: RawSpec | None = None) -> dict[str, pa.DataFrameSchema]:
    """One schema per form in specs/raw/forms.yaml."""
    spec = spec or load_raw_spec()
    return {name: form_schema(form, spec) for name, form in spec.forms.items()}
