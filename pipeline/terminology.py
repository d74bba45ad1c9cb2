"""Text normalisation and term mapping shared by the raw, SDTM and coding layers.

A term is matched to a dictionary (a raw codelist, a CDISC CT codelist, the AE verbatim
dictionary) after NFKC normalisation (full-width ``ＡＦＰ`` is ``AFP``, ``µ`` is ``μ``),
trimming and collapsing whitespace. An exact match wins; otherwise a case-insensitive
match is used when it points to one value only. A term with no match stays unmapped and
flagged — it is never upper-cased or passed through.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.columns import all_str, take_text
from pipeline.specs.raw import RawCodelist

# Zero-width characters and stray BOMs are invisible in a spreadsheet but break matching.
_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff]"


def on_distinct(values: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply ``fn`` to the distinct non-missing values of ``values`` only, and map back.

    Raw columns repeat a few values many times (codes, dates, units), so string work is
    done once per distinct value. ``fn`` takes an object Series of those values (as ``str``,
    so its regular expressions are Python's) and returns a Series; the result is on ``values``'
    index, missing where the input was: a ``TEXT`` Series when ``fn`` gave text, else object.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    done = fn(pd.Series([str(u) for u in uniques], dtype=object))
    if all_str(done.astype(object)):  # text: one Arrow take, no Python object per row
        return take_text(done.to_numpy(dtype=object), codes, values.index)
    table = np.append(done.astype(object).where(done.notna(), None).to_numpy(dtype=object), [None])
    return pd.Series(table[codes], index=values.index, dtype=object)


def _normalise_distinct(s: pd.Series) -> pd.Series:
    s = s.str.normalize("NFKC").str.replace(_INVISIBLE, "", regex=True)
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    return s.where(s != "", None)


def normalise_text(values: pd.Series) -> pd.Series:
    """NFKC, strip and collapse internal whitespace of each value.

    Takes any Series; returns a ``TEXT`` Series on the same index, missing (NaN) for missing
    values and for values that are blank after normalisation.
    """
    return on_distinct(values, _normalise_distinct)


def _norm(term: str) -> str:
    """Scalar twin of :func:`normalise_text` used to build lookups."""
    return re.sub(r"\s+", " ", re.sub(_INVISIBLE, "", unicodedata.normalize("NFKC", term))).strip()


@dataclass(frozen=True)
class TermLookup:
    """A compiled matcher: normalised term -> value, and casefolded term -> value where unambiguous."""

    exact: dict[str, str]
    folded: dict[str, str]
    ambiguous: frozenset[str]  # casefolded terms that point to more than one value


def build_lookup(terms: RawCodelist | Mapping[str, str]) -> TermLookup:
    """Compile a codelist (canonical values and synonyms) or a plain ``{term: value}`` dict.

    For a codelist, a canonical value matches itself and takes precedence over a synonym
    spelled the same way.
    """
    if isinstance(terms, RawCodelist):
        pairs = [(v, v) for v in terms.values] + list(terms.synonyms.items())
    else:
        pairs = list(terms.items())
    exact: dict[str, str] = {}
    for term, value in pairs:
        exact.setdefault(_norm(str(term)), value)
    folded: dict[str, str] = {}
    ambiguous: set[str] = set()
    for term, value in exact.items():
        key = term.casefold()
        if folded.setdefault(key, value) != value:
            ambiguous.add(key)
    return TermLookup(exact, {k: v for k, v in folded.items() if k not in ambiguous}, frozenset(ambiguous))


def map_terms(values: pd.Series, terms: RawCodelist | Mapping[str, str] | TermLookup) -> tuple[pd.Series, pd.Series]:
    """Map raw terms to their dictionary values.

    Takes a Series of terms and a codelist, a ``{term: value}`` dict or a compiled
    :class:`TermLookup`. Returns ``(mapped, unknown)`` on ``values``' index: ``mapped`` is
    a ``TEXT`` Series of dictionary values (missing where blank or unknown), ``unknown`` a
    bool Series, True where a non-blank term has no (unambiguous) match.
    """
    lookup = terms if isinstance(terms, TermLookup) else build_lookup(terms)

    def match(distinct: pd.Series) -> pd.Series:
        text = _normalise_distinct(distinct)
        mapped = text.map(lookup.exact)
        miss = mapped.isna() & text.notna()
        if miss.any():
            mapped[miss] = text[miss].str.casefold().map(lookup.folded)
        return mapped

    mapped = on_distinct(values, match)
    blank = on_distinct(values, _normalise_distinct).isna()
    unknown = pd.Series(~blank.to_numpy() & mapped.isna().to_numpy(), index=values.index, dtype=bool)
    return mapped, unknown
