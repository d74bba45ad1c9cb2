"""Query messages written for the site: the value, why it is a problem, what is allowed, the record.

Each query of the listing gets

* ``allowed``: the values or range the field accepts, spelled out from the raw input contract
  (the codelist's values, the dictionary's min/max and unit, the site's date order, the AE
  dictionary's nearest terms), never a pointer to a spec file;
* ``context``: the record the query is about, from the raw row (the form's keys, its dates,
  terms, tests and visit), so the site finds it without opening the export;
* ``site_message`` in English and ``site_message_zh`` in Chinese for the sites of a Chinese-speaking
  country (``country`` in specs/raw/sites.yaml); ``message`` keeps the detecting layer's text.

Rules without a template keep the message of the layer that raised them, followed by a request
to check the record. Identifier values are redacted before this module sees them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pipeline.specs.raw import RawField, RawSpec

CHINESE_COUNTRIES = frozenset({"CHN", "TWN", "HKG", "MAC"})
MAX_ALLOWED_LISTED = 25
NEAREST_TERMS = 3
_DATE_FORMAT = {
    "YMD": (
        "year-month-day, e.g. 2019-03-05 (2019-03 when the day is unknown)",
        "年-月-日，例如 2019-03-05（日不详时写 2019-03）",
    ),
    "DMY": ("day/month/year, e.g. 05/03/2019", "日/月/年，例如 05/03/2019"),
    "MDY": ("month/day/year, e.g. 03/05/2019", "月/日/年，例如 03/05/2019"),
}
# Fields that tell a site which record a query is about, besides the form's keys and its dates.
_CONTEXT_SUFFIXES = ("TERM", "TEST", "TESTCD", "VISIT", "VISITNUM", "CAT", "TRT", "SPID", "LOC")


def _field(spec: RawSpec, form: str, name: str) -> RawField | None:
    f = spec.forms.get(form)
    if f is None:
        return None
    try:
        return f.field(name)
    except KeyError:
        return None


def _bound(x: float) -> str:
    return f"{x:g}"


def allowed_text(
    spec: RawSpec, form: str, field: str, rule: str, siteid: str, ae_terms: tuple[str, ...] = (), value: str = ""
) -> tuple[str, str]:
    """Take a query's form, field, rule, site and value; return (English, Chinese) text of what is allowed ('' when nothing applies)."""
    f = _field(spec, form, field)
    if rule == "AE_TERM_UNKNOWN" and ae_terms:
        near = difflib.get_close_matches(value, ae_terms, n=NEAREST_TERMS, cutoff=0.0) if value else []
        en = "a term of the study's AE dictionary (standard medical terms, English or Chinese)"
        zh = "本研究不良事件词典中的术语（规范医学术语，中文或英文均可）"
        if near:
            en += "; nearest: " + ", ".join(near)
            zh += "；最接近的术语：" + "、".join(near)
        return en, zh
    if f is None:
        return "", ""
    if f.codelist and f.codelist in spec.codelists:
        values = list(spec.codelists[f.codelist].values)
        shown = ", ".join(values[:MAX_ALLOWED_LISTED]) + (
            f" (and {len(values) - MAX_ALLOWED_LISTED} more)" if len(values) > MAX_ALLOWED_LISTED else ""
        )
        shown_zh = "、".join(values[:MAX_ALLOWED_LISTED]) + (
            f"（另有 {len(values) - MAX_ALLOWED_LISTED} 个）" if len(values) > MAX_ALLOWED_LISTED else ""
        )
        return f"one of: {shown}", f"以下之一：{shown_zh}"
    if f.type == "date":
        order = spec.sites[siteid].date_order if siteid in spec.sites else "YMD"
        en, zh = _DATE_FORMAT.get(order, _DATE_FORMAT["YMD"])
        return f"a real calendar date, written {en}", f"真实存在的日期，格式为{zh}"
    if f.type in ("number", "integer", "int", "float"):
        kind, kind_zh = ("a whole number", "整数") if f.type in ("integer", "int") else ("a number", "数字")
        unit = f" {f.unit}" if f.unit else ""
        if f.min is not None and f.max is not None:
            return (
                f"{kind} from {_bound(f.min)} to {_bound(f.max)}{unit}",
                f"{kind_zh}，范围 {_bound(f.min)}–{_bound(f.max)}{unit}",
            )
        if f.min is not None:
            return f"{kind} of at least {_bound(f.min)}{unit}", f"{kind_zh}，不小于 {_bound(f.min)}{unit}"
        if f.max is not None:
            return f"{kind} of at most {_bound(f.max)}{unit}", f"{kind_zh}，不大于 {_bound(f.max)}{unit}"
        return f"{kind}{unit}", f"{kind_zh}{unit}"
    return "", ""


def _label(spec: RawSpec, form: str, field: str) -> str:
    f = _field(spec, form, field)
    return f"{f.label} ({field})" if f else field


def _label_zh(spec: RawSpec, form: str, field: str) -> str:
    f = _field(spec, form, field)
    return f"{f.label}（{field}）" if f else field


def site_messages(row: Mapping[str, object], spec: RawSpec, allowed: tuple[str, str]) -> tuple[str, str]:
    """Take one listing row (field, value, rule, message, form) and its allowed text; return (English, Chinese) messages."""
    form, field, value, rule = str(row["form"]), str(row["field"]), str(row["value"]), str(row["rule"])
    upstream = str(row.get("message") or "").strip()
    what, what_zh = _label(spec, form, field), _label_zh(spec, form, field)
    ok_en = f" It should be {allowed[0]}." if allowed[0] else ""
    ok_zh = f"应为{allowed[1]}。" if allowed[1] else ""
    if rule == "CODE_UNKNOWN":
        return (
            f"{what} is “{value}”, which is not one of the agreed values.{ok_en} Please correct it.",
            f"{what_zh}填写为“{value}”，不在约定的取值范围内。{ok_zh}请更正。",
        )
    if rule == "DATE_INVALID":
        why = upstream.split(": ", 1)[1] if ": " in upstream else "not a valid date"
        return (
            f"{what} is “{value}”, which is not a valid date ({why}).{ok_en} Please give the real date.",
            f"{what_zh}填写为“{value}”，不是有效日期。{ok_zh}请填写正确的日期。",
        )
    if rule == "DATE_IN_FUTURE":
        return (
            f"{what} is “{value}”, after the data cut-off: a date cannot be later than the export. Please check it.",
            f"{what_zh}填写为“{value}”，晚于数据截止日期，日期不可能晚于导出日期。请核实。",
        )
    if rule == "REQUIRED_MISSING":
        return (f"{what} is blank, but it is required.{ok_en} Please enter it.", f"{what_zh}为必填项，但未填写。{ok_zh}请补充。")
    if rule in ("NOT_NUMERIC", "NOT_INTEGER"):
        return (
            f"{what} is “{value}”, which is not {'a whole number' if rule == 'NOT_INTEGER' else 'a number'}.{ok_en} Please enter the number from the source document.",
            f"{what_zh}填写为“{value}”，不是{'整数' if rule == 'NOT_INTEGER' else '数字'}。{ok_zh}请按原始记录填写数值。",
        )
    if rule == "OUT_OF_RANGE":
        return (
            f"{what} is {value}, outside the plausible range.{ok_en} Please check it against the source document.",
            f"{what_zh}填写为 {value}，超出合理范围。{ok_zh}请与原始病历核对。",
        )
    if rule == "AE_TERM_UNKNOWN":
        return (
            f"The adverse event term “{value}” cannot be coded: it is not in the study's AE dictionary.{ok_en} Please give the diagnosis or symptom in standard medical terms.",
            f"不良事件名称“{value}”无法编码：不在本研究的不良事件词典中。{ok_zh}请使用规范的医学术语填写诊断或症状。",
        )
    en = upstream or f"{what}: “{value}” breaks the rule {rule}."
    en = en if en.endswith(".") else en + "."
    return (
        f"{en}{ok_en} Please check the record and correct it.",
        f"{what_zh}的值“{value}”有问题（规则 {rule}）：{upstream or '见英文说明'}。{ok_zh}请核实该记录并更正。",
    )


def is_chinese_site(spec: RawSpec, siteid: str) -> bool:
    site = spec.sites.get(str(siteid))
    return site is not None and site.country in CHINESE_COUNTRIES


# -------------------------------------------------------------------------------------------- record context


def context_fields(spec: RawSpec, form: str) -> list[RawField]:
    """The fields of ``form`` that tell a site which record it is: keys (but SUBJID), dates, terms, tests, visits."""
    f = spec.forms.get(form)
    if f is None:
        return []
    keys = set(f.keys) - {"SUBJID"}
    return [
        x
        for x in f.fields
        if not x.identifier
        and x.name not in ("SITEID", "SUBJID")
        and (x.name in keys or x.type == "date" or x.name.endswith(_CONTEXT_SUFFIXES))
    ]


def read_contexts(listing: pd.DataFrame, raw_dir: Path, spec: RawSpec) -> pd.Series:
    """Take the listing and the raw folder; return per listing row the record's context
    (``Label (FIELD): value; ...``, the queried field left out), '' where there is no raw row.

    Each raw file that a query names is read once; a file that cannot be read gives ''.
    """
    from pipeline.raw.reader import RawFileError, read_form_file

    out = pd.Series("", index=listing.index, dtype=object)
    has_row = listing["file"].astype(str).ne("") & listing["row"].notna()
    for file, rows in listing[has_row].groupby("file", sort=True):
        parts = Path(str(file)).parts
        if len(parts) != 2 or parts[0] not in spec.sites:
            continue
        form = Path(parts[1]).stem
        if form not in spec.forms:
            continue
        fields = context_fields(spec, form)
        try:
            raw = read_form_file(Path(raw_dir) / file, spec.sites[parts[0]], spec.forms[form])
        except (RawFileError, OSError, ValueError):
            continue
        by_row = raw.set_index("_row")
        for i, r in rows.iterrows():
            n = int(r["row"])
            if n not in by_row.index:
                continue
            rec = by_row.loc[n]
            if isinstance(rec, pd.DataFrame):
                rec = rec.iloc[0]
            bits = [
                f"{x.label} ({x.name}): {str(rec[x.name]).strip()}"
                for x in fields
                if x.name in rec.index and x.name != r["field"] and str(rec[x.name]).strip()
            ]
            out[i] = "; ".join(bits)
    return out
