"""The MedDRA ASCII reader and coder on a made-up release (tests/fixtures/meddra_ascii: invented terms
and codes in the MSSO layout, never MedDRA content). Expected values are read off the fixture by hand."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import meddra
from pipeline.meddra import MeddraFormatError, code_llt, parse_line, read_release

FIXTURE = Path(__file__).parent / "fixtures" / "meddra_ascii"


@pytest.fixture(scope="module")
def release():
    return read_release(FIXTURE)


@pytest.fixture
def copy(tmp_path):
    dst = tmp_path / "MedAscii"
    shutil.copytree(FIXTURE, dst)
    return dst


def test_reader_returns_each_file_as_a_frame(release):
    assert release.version == "99.0"
    assert release["llt"][["llt_code", "llt_name", "pt_code", "llt_currency"]].values.tolist()[4] == [
        "94000002",
        "Blorp up",
        "93000003",
        "N",
    ]
    assert release["soc"]["soc_abbrev"].tolist() == ["FSkin", "FGut", "FChk"]
    assert len(release["mdhier"]) == 5 and release["hlt_pt"].shape == (5, 3)  # two fields + _line


def test_code_llt_gives_the_primary_path_with_every_code(release):
    got = code_llt(pd.Series(["Glimmering skin", "Sparkle colic", "Blorp up", "Not a term"]), release)
    skin = [
        "Glimmering skin",
        "94000001",
        "Glimmer rash",
        "93000001",
        "Invented rashes",
        "92000001",
        "Made-up skin groups",
        "91000001",
        "Fictional skin conditions",
        "90000001",
        "Fictional skin conditions",
        "90000001",
    ]
    assert got.loc[0, meddra.AE_VARS].tolist() == skin
    # Sparkle colic sits under the gut SOC (listed first in mdhier.asc) and the skin SOC (flag Y): skin wins.
    assert got.loc[1, ["AEHLT", "AEHLTCD", "AEHLGTCD", "AEBODSYS", "AEBDSYCD", "AESOCCD"]].tolist() == [
        "Invented skin-gut overlap",
        "92000004",
        "91000001",
        "Fictional skin conditions",
        "90000001",
        "90000001",
    ]
    assert got.loc[2, ["AEDECOD", "AEPTCD", "AESOC"]].tolist() == ["Blorp level raised", "93000003", "Fictional checks"]
    assert got["known"].tolist() == [True, True, True, False]
    assert got["current"].tolist() == [True, True, False, True]  # Blorp up is a non-current LLT
    assert got.loc[3, meddra.AE_VARS].isna().all()


def test_configured_release_and_version(monkeypatch):
    monkeypatch.delenv(meddra.ENV_DIR, raising=False)
    assert meddra.configured_release() is None and meddra.dictionary_version() == "12.0"
    monkeypatch.setenv(meddra.ENV_DIR, str(FIXTURE))
    assert meddra.dictionary_version() == "99.0"
    assert code_llt(pd.Series(["Tummy twinge"])).loc[0, "AESOCCD"] == "90000002"


def test_version_from_the_environment_when_the_release_file_is_absent(copy, monkeypatch):
    (copy / "meddra_release.asc").unlink()
    monkeypatch.delenv(meddra.ENV_VERSION, raising=False)
    with pytest.raises(MeddraFormatError, match="no meddra_release.asc and PIPELINE_MEDDRA_VERSION is not set"):
        read_release(copy)
    monkeypatch.setenv(meddra.ENV_VERSION, "98.1")
    assert read_release(copy).version == "98.1"


@pytest.mark.parametrize(
    "file, line, text, message",
    [
        ("pt.asc", 2, "93000002$Tummy twinge$$90000002$$$$$$$\n", r"pt\.asc:2: 10 fields, expected 11"),
        ("pt.asc", 4, "93000004$Sparkle colic$$90000001$$$$$$$$", None),  # no newline after the last record: fine
        (
            "llt.asc",
            1,
            "9300000X$Glimmer rash$93000001$$$$$$$Y$$\n",
            r"llt\.asc:1: field llt_code = '9300000X' is not an 8-digit MedDRA code",
        ),
        ("hlt.asc", 4, "92000004$$$$$$$$$\n", r"hlt\.asc:4: field hlt_name is blank"),
        ("soc.asc", 1, "90000001$Fictional skin conditions$FSkin$$$$$$$$J\n", r"soc\.asc:1: record does not end with '\$'"),
        ("llt.asc", 6, "93000004$Sparkle colic$93999999$$$$$$$Y$$\n", r"llt\.asc:6: field pt_code = 93999999 is not in pt\.asc"),
        ("hlt.asc", 2, "92000001$Invented rashes again$$$$$$$$\n", r"hlt\.asc:2: field hlt_code = 92000001 appears twice"),
    ],
)
def test_a_bad_record_names_file_line_and_field(copy, file, line, text, message):
    lines = (copy / file).read_text().splitlines(keepends=True)
    lines[line - 1] = text
    (copy / file).write_text("".join(lines))
    if message is None:
        read_release(copy)
        return
    with pytest.raises(MeddraFormatError, match=message):
        read_release(copy)


def test_primary_flag_must_decide_exactly_one_path(copy):
    md = (copy / "mdhier.asc").read_text().splitlines(keepends=True)
    (copy / "mdhier.asc").write_text("".join(md[:3] + [md[3].replace("$N$", "$Y$"), md[4]]))
    with pytest.raises(MeddraFormatError, match=r"mdhier\.asc:5: PT 93000004 has a second primary SOC path \(first on line 4\)"):
        read_release(copy)
    (copy / "mdhier.asc").write_text("".join(md[:3] + [md[3]]))
    with pytest.raises(MeddraFormatError, match=r"pt\.asc:4: PT 93000004 has no primary SOC path"):
        read_release(copy)


def test_missing_file_and_wrong_encoding(copy):
    (copy / "hlgt_hlt.asc").unlink()
    with pytest.raises(MeddraFormatError, match=r"MedDRA ASCII file\(s\) missing: hlgt_hlt\.asc"):
        read_release(copy)
    shutil.copy(FIXTURE / "hlgt_hlt.asc", copy / "hlgt_hlt.asc")
    (copy / "soc.asc").write_bytes(
        b"90000001$Fictional skin conditions$FSkin$$$$$$$$\n90000002$Fictional gut \xff$FGut$$$$$$$$\n"
    )
    with pytest.raises(MeddraFormatError, match=r"soc\.asc:2: not UTF-8 text \(byte 0xff\)"):
        read_release(copy)


# ---- the line parser ----------------------------------------------------------------
FIELD = st.text(st.characters(blacklist_characters="$\r\n", blacklist_categories=("Cs",)), max_size=12).map(str.strip)
NAMES = ["hlt_name", "x", "y"]


@given(st.lists(FIELD, min_size=3, max_size=3).filter(lambda v: v[0] != ""), st.sampled_from(["", "\n", "\r\n"]))
def test_parse_line_round_trips(values, end):
    line = "$".join(values) + "$" + end
    assert parse_line(line, NAMES, "f.asc:1") == values


@given(st.lists(FIELD, min_size=0, max_size=6).filter(lambda v: len(v) != 3))
def test_parse_line_rejects_another_field_count(values):
    with pytest.raises(MeddraFormatError, match=rf"^f\.asc:7: {len(values) if values else 1} fields, expected 3"):
        parse_line("$".join(values) + "$", NAMES, "f.asc:7")


@given(
    st.text(st.characters(blacklist_characters="\r\n"), max_size=8).filter(
        lambda s: not (s.isascii() and s.isdigit() and len(s) == 8)
    )
)
def test_parse_line_rejects_a_code_that_is_not_8_digits(code):
    code = code.replace("$", "")
    if code.strip().isascii() and code.strip().isdigit() and len(code.strip()) == 8:
        return
    with pytest.raises(MeddraFormatError, match="field pt_code"):
        parse_line(f"{code}$93000001$", ["pt_code", "hlt_code"], "f.asc:1")
