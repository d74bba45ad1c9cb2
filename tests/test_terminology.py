"""Text normalisation and term mapping: synonyms found, unknown terms never passed through."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from listed import listed

from pipeline.columns import TEXT
from pipeline.specs.raw import RawCodelist, load_raw_spec
from pipeline.terminology import build_lookup, map_terms, normalise_text

SPEC = load_raw_spec()
CODELISTS = SPEC.codelists
FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}
SETTINGS = settings(max_examples=300, deadline=None)


# --- normalise_text ---------------------------------------------------------------------------


def test_normalise_text_examples() -> None:
    s = pd.Series(
        [" ＡＦＰ ", "a\u3000\u00a0 b", "Hand  foot\tsyndrome ", "", "   ", None, np.nan, 3, "x\u200by", "\ufeffSITEID"],
        index=list("abcdefghij"),
    )
    out = normalise_text(s)
    assert listed(out) == ["AFP", "a b", "Hand foot syndrome", None, None, None, None, "3", "xy", "SITEID"]
    assert out.index.tolist() == list("abcdefghij")
    assert out.dtype == TEXT


def test_normalise_text_empty_series() -> None:
    assert normalise_text(pd.Series([], dtype=object)).empty


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.text()), max_size=20))
def test_normalise_text_properties(vals: list[str | None]) -> None:
    out = normalise_text(pd.Series(vals, dtype=object))
    for v in listed(out):
        if v is None:
            continue
        assert v and v == v.strip() and "  " not in v
        assert not any(c.isspace() and c != " " for c in v)
    # Idempotent: normalising twice changes nothing.
    assert listed(normalise_text(out)) == listed(out)


# --- map_terms ----------------------------------------------------------------------------------


def test_yes_no_in_chinese_and_english() -> None:
    mapped, unknown = map_terms(pd.Series(["是", "否", "Yes", "no", " Y ", "1", "０", "TRUE", None, "maybe"]), CODELISTS["NY"])
    assert listed(mapped) == ["Y", "N", "Y", "N", "Y", "Y", "N", "Y", None, None]
    assert unknown.tolist() == [False] * 9 + [True]
    assert unknown.dtype == bool


def test_ctcae_grade_styles() -> None:
    mapped, unknown = map_terms(
        pd.Series(["3", "III", "3级", "Gr3", "gr3", "G3", "Grade 3", "Ⅲ", "３", "Gr6"]), CODELISTS["GRADE"]
    )
    assert listed(mapped) == ["3"] * 9 + [None]
    assert unknown.tolist() == [False] * 9 + [True]


def test_micro_sign_greek_mu_and_u_are_one_unit() -> None:
    mapped, _ = map_terms(pd.Series(["µmol/L", "μmol/L", "umol/L", "UMOL/L", "μmol/l"]), CODELISTS["UNIT"])
    assert set(mapped) == {"umol/L"}


def test_case_only_differences_that_point_to_two_values_are_not_guessed() -> None:
    # G/L is a synonym of 10^9/L, g/L a unit of its own: exact spellings decide, G/l is left to the site.
    mapped, unknown = map_terms(pd.Series(["G/L", "g/L", "g/l", "G/l"]), CODELISTS["UNIT"])
    assert listed(mapped) == ["10^9/L", "g/L", "g/L", None]
    assert unknown.tolist() == [False, False, False, True]
    assert "g/l" in build_lookup(CODELISTS["UNIT"]).ambiguous


def test_unknown_terms_are_never_upper_cased_or_passed_through() -> None:
    mapped, unknown = map_terms(pd.Series(["sorafenib", "Sorafenib", "sorafenibb", "sora fenib"]), CODELISTS["TRTGRP"])
    assert listed(mapped) == ["SORAFENIB", "SORAFENIB", None, None]
    assert unknown.tolist() == [False, False, True, True]


def test_plain_dict_as_used_by_the_ae_coder() -> None:
    verbatim = {"腹泻": "Diarrhea", "Diarrhoea": "Diarrhea", "手足综合征": "Palmar-plantar erythrodysesthesia syndrome"}
    s = pd.Series(["腹泻", "DIARRHOEA", " 手足综合征 ", "头痛", None], index=[10, 11, 12, 13, 14])
    mapped, unknown = map_terms(s, verbatim)
    assert listed(mapped) == ["Diarrhea", "Diarrhea", "Palmar-plantar erythrodysesthesia syndrome", None, None]
    assert unknown.tolist() == [False, False, False, True, False]
    assert mapped.index.equals(s.index) and unknown.index.equals(s.index)


def test_a_canonical_value_wins_over_a_synonym_spelled_the_same() -> None:
    cl = RawCodelist("X", ("A", "B"), {"A": "B", "b1": "B"})
    assert map_terms(pd.Series(["A", "a", "B1"]), cl)[0].tolist() == ["A", "A", "B"]


def test_compiled_lookup_is_accepted() -> None:
    lookup = build_lookup(CODELISTS["SEX"])
    assert map_terms(pd.Series(["男", "女"]), lookup)[0].tolist() == ["M", "F"]


# --- properties over the real raw codelists -------------------------------------------------------

ALL_TERMS = [
    (name, term, value) for name, cl in CODELISTS.items() for term, value in [*((v, v) for v in cl.values), *cl.synonyms.items()]
]


@st.composite
def spelled(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """A codelist term as a site might write it: any case, full width, padded."""
    name, term, value = draw(st.sampled_from(ALL_TERMS))
    how = draw(st.sampled_from(["same", "upper", "lower", "swap", "full-width"]))
    text = {
        "same": term,
        "upper": term.upper(),
        "lower": term.lower(),
        "swap": term.swapcase(),
        "full-width": term.translate(FULL_WIDTH),
    }[how]
    pad = draw(st.sampled_from(["", " ", "\u3000", "\u00a0\t"]))
    return name, pad + text + pad, term, value


@SETTINGS
@given(spelled())
def test_any_spelling_of_a_known_term_maps_to_its_value(case: tuple[str, str, str, str]) -> None:
    name, text, _term, value = case
    mapped, unknown = map_terms(pd.Series([text]), CODELISTS[name])
    lookup = build_lookup(CODELISTS[name])
    norm = normalise_text(pd.Series([text])).iloc[0]
    if norm in lookup.exact:
        # Re-cased, a term can become another term's exact spelling (UNIT: G/L -> g/l).
        assert mapped.iloc[0] == lookup.exact[norm] and not unknown.iloc[0]
    elif norm.casefold() in lookup.ambiguous:
        assert pd.isna(mapped.iloc[0]) and unknown.iloc[0]  # left to the site, not guessed
    else:
        assert mapped.iloc[0] == value and not unknown.iloc[0]


@SETTINGS
@given(st.sampled_from(sorted(CODELISTS)), st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=20))
def test_output_is_a_canonical_value_or_flagged(name: str, vals: list[str | None]) -> None:
    cl = CODELISTS[name]
    s = pd.Series(vals, dtype=object)
    mapped, unknown = map_terms(s, cl)
    blank = normalise_text(s).isna()
    for m, u, b in zip(listed(mapped), unknown, blank):
        assert (m is None) == (u or b)
        assert m is None or m in cl.values
    assert not (unknown & blank).any()


@pytest.mark.parametrize("name", sorted(CODELISTS))
def test_every_canonical_value_maps_to_itself(name: str) -> None:
    cl = CODELISTS[name]
    assert map_terms(pd.Series(list(cl.values)), cl)[0].tolist() == list(cl.values)
