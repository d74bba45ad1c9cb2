"""The bad-input corpus (issue 7): every kind of bad export a site sends, with its exact outcome.

A small clean study is generated once (12 subjects, seed 7, no injected problems, so every
query below is one of ours) and run once as "last night". Then:

* value-level problems: every case of VALUE_CASES is written into ONE copy of the export
  (each in its own record) and the pipeline runs once. The run must succeed, and the query
  listing must hold exactly the expected rows (file, row, field, value, rule, message), no
  more; the SDTM datasets keep every valid record and none of the held-back ones; every
  record and every enrolled subject is accounted for.
* file-level problems: each case of FILE_CASES breaks one file. ``extract_form`` must fail
  with exactly the expected message; in the pipeline the affected raw asset fails with that
  message (read from the run's event log, as the Dagster UI shows it) and last night's
  outputs stay byte-identical. Five cases on forms DM does not read share one run (so DM and
  its dependants are rebuilt alongside); the others get their own run.

"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import openpyxl
import pandas as pd
import pytest

from pipeline.dates import parse_date
from pipeline.ops.checks import CHECK_NAME, ops_asset_checks
from pipeline.raw.extract import extract_form
from pipeline.raw.reader import RawFileError
from pipeline.runner import RunReport, run_study
from pipeline.specs.raw import load_raw_spec
from pipeline.synth import generate_study

SPEC = load_raw_spec()
CUTOFF_MSG = "is after the data cut-off of 2022-12-31; a date cannot be later than the export"
Row = tuple  # (siteid, subjid, form, file, row, field, value, rule, message)
LISTING = ["siteid", "subjid", "form", "file", "row", "field", "value", "rule", "message"]


# --- editing an export as a site's EDC would have written it -------------------------------------


def path_of(raw: Path, site: str, form: str) -> Path:
    return raw / site / f"{form}.{SPEC.sites[site].file_format}"


def _read_csv(p: Path, encoding: str) -> tuple[list[list[str]], str]:
    text = p.read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""))), ("\r\n" if "\r\n" in text else "\n")


def record(raw: Path, site: str, form: str, row: int) -> dict[str, object]:
    """The record at ``row`` (as Excel numbers rows: header 1) as {column: value}."""
    p = path_of(raw, site, form)
    if p.suffix == ".xlsx":
        ws = openpyxl.load_workbook(p)[form]
        return dict(zip([c.value for c in ws[1]], [c.value for c in ws[row]]))
    rows, _ = _read_csv(p, SPEC.sites[site].encoding)
    return dict(zip(rows[0], rows[row - 1]))


def edit(raw: Path, site: str, form: str, row: int | None, values: dict[str, object]) -> int:
    """Set cells of record ``row`` (None: append a record); returns the row written."""
    p = path_of(raw, site, form)
    if p.suffix == ".xlsx":
        wb = openpyxl.load_workbook(p)
        ws = wb[form]
        header = [c.value for c in ws[1]]
        row = ws.max_row + 1 if row is None else row
        for k, v in values.items():
            ws.cell(row=row, column=header.index(k) + 1, value=v)
        wb.save(p)
        return row
    enc = SPEC.sites[site].encoding
    rows, nl = _read_csv(p, enc)
    if row is None:
        rows.append([""] * len(rows[0]))
        row = len(rows)
    for k, v in values.items():
        rows[row - 1][rows[0].index(k)] = str(v)
    buf = io.StringIO()
    csv.writer(buf, lineterminator=nl).writerows(rows)
    p.write_bytes(buf.getvalue().encode(enc))
    return row


def copy_record(raw: Path, site: str, form: str, row: int, **changes: object) -> int:
    """Append a copy of record ``row`` with ``changes``; returns the new row."""
    rec = record(raw, site, form, row)
    rec.update(changes)
    return edit(raw, site, form, None, rec)


def expect(raw: Path, site: str, form: str, row: int, subjid: str) -> None:
    """Guard: the generated study still has ``subjid`` at ``row`` (the cases below rely on it)."""
    assert str(record(raw, site, form, row)["SUBJID"]) == subjid, (
        f"{site}/{form} row {row} is no longer {subjid}: regenerate the corpus"
    )


def q(site: str, subjid: str, form: str, row: int, field: str, value: str, rule: str, message: str) -> Row:
    return (site, subjid, form, f"{site}/{form}.{SPEC.sites[site].file_format}", row, field, value, rule, message)


# --- value-level cases: (raw) -> the listing rows expected ---------------------------------------------


@dataclass(frozen=True)
class OneEdit:
    """The common shape of a value case: one cell of one record is changed, and exactly one query row names it."""

    name: str
    site: str
    form: str
    row: int  # as Excel numbers rows: header 1
    subjid: str  # the subject the generated study has at that row (a guard)
    field: str
    value: str  # as the site sends it
    rule: str
    message: str
    shown: str | None = None  # the value as the listing shows it, when not the value sent (a redacted birth date)

    def __call__(self, raw: Path) -> list[Row]:
        expect(raw, self.site, self.form, self.row, self.subjid)
        edit(raw, self.site, self.form, self.row, {self.field: self.value})
        shown = self.value if self.shown is None else self.shown
        return [q(self.site, self.subjid, self.form, self.row, self.field, shown, self.rule, self.message)]


# (case, site, form, row, subject at that row, field, value sent, rule, message)
ONE_EDIT_CASES = [
    OneEdit(
        "impossible_date_iso",
        *("101", "ae", 2, "101-001", "AESTDAT", "2020-02-30", "DATE_INVALID"),
        "Start date (AESTDAT) is not a valid date: day does not exist in that month",
    ),
    OneEdit(
        "impossible_date_dmy",
        *("102", "lb", 2, "S102001", "LBDAT", "31/04/2019", "DATE_INVALID"),
        "Date of specimen collection (LBDAT) is not a valid date: day does not exist in that month",
    ),
    OneEdit(
        "date_after_cutoff",
        *("101", "ae", 3, "101-003", "AEENDAT", "2023-01-15", "DATE_IN_FUTURE"),
        f"End date (AEENDAT) {CUTOFF_MSG}",
    ),
    OneEdit(
        "partial_date_after_cutoff_xlsx",
        *("103", "ae", 2, "GZ3-3", "AEENDAT", "2023年2月", "DATE_IN_FUTURE"),
        f"End date (AEENDAT) {CUTOFF_MSG}",
    ),
    OneEdit(
        "unknown_codelist_term",
        *("101", "ae", 5, "101-005", "AEOUT", "Gone away", "CODE_UNKNOWN"),
        "Outcome (AEOUT): the term is not one of the agreed values of codelist OUT (specs/raw/codelists.csv)",
    ),
    OneEdit(
        "ctcae_grade_6",
        *("102", "ae", 3, "S102001", "AETOXGR", "6级", "CODE_UNKNOWN"),
        "CTCAE v4.0 grade (AETOXGR): the term is not one of the agreed values of codelist GRADE (specs/raw/codelists.csv)",
    ),
    OneEdit(
        "negative_dose",
        *("101", "ex", 4, "101-004", "EXDOSE", "-400", "OUT_OF_RANGE"),
        "Daily dose (EXDOSE) should be 0 or more (specs/raw/dictionary.csv)",
    ),
    OneEdit(
        "text_in_numeric_field",
        *("101", "lb", 3, "101-001", "LBORRES", "one four nine", "NOT_NUMERIC"),
        "Result (LBORRES) should be a number",
    ),
    OneEdit(
        "unknown_unit",
        *("101", "lb", 4, "101-001", "LBORRESU", "furlongs", "CODE_UNKNOWN"),
        "Unit (LBORRESU): the term is not one of the agreed values of codelist UNIT (specs/raw/codelists.csv)",
    ),
    OneEdit(
        "required_if_missing",  # row 2's AEONGO is 否 (= N)
        *("102", "ae", 2, "S102001", "AEENDAT", "", "REQUIRED_IF_MISSING"),
        "End date (AEENDAT) is required when Ongoing (AEONGO) is N, but it is blank",
    ),
    # Checked by SDTM DM: consent 2018-09-09, so AGE would be -1; the birth date itself is never listed.
    OneEdit(
        "date_before_birth",
        *("101", "dm", 3, "101-002", "BRTHDAT", "2019-01-01", "BIRTH_AFTER_CONSENT"),
        "Birth date is after the informed consent date; AGE not derived",
        shown="<redacted>",
    ),
]


# Cases of another shape: a record copied, several queries, a cascade.


def subject_not_enrolled(raw: Path) -> list[Row]:
    expect(raw, "101", "ae", 4, "101-004")
    row = copy_record(raw, "101", "ae", 4, SUBJID="101-099")
    return [
        q(
            "101",
            "101-099",
            "ae",
            row,
            "SUBJID",
            "101-099",
            "SUBJECT_NOT_IN_DM",
            "Subject 101-099 is not an enrolled subject in DM; record held back",
        )
    ]


def death_before_surgery(raw: Path) -> list[Row]:
    expect(raw, "104", "surv", 2, "1040001")  # died 18-MAR-2019; hepatectomy 02-APR-2018
    edit(raw, "104", "surv", 2, {"DTHDAT": "15-MAR-2018"})
    expect(raw, "104", "ae", 2, "1040001")
    ae_start = parse_date(str(record(raw, "104", "ae", 2)["AESTDAT"]), "DMY").iso
    ae_end = parse_date(str(record(raw, "104", "ae", 2)["AEENDAT"]), "DMY").iso
    return [
        q(
            "104",
            "1040001",
            "surv",
            2,
            "DTHDAT",
            "2018-03-15",
            "DEATH_BEFORE_HEPATECTOMY",
            "Death date before the hepatectomy (2018-04-02)",
        ),
        q(
            "104",
            "1040001",
            "surv",
            2,
            "DTHDAT",
            "2018-03-15",
            "DEATH_BEFORE_LAST_ASSESSMENT",
            "Death date before the last tumour assessment (2019-01-30)",
        ),
        # The end-of-study record (reason DEATH, 18-MAR-2019) now disagrees with the survival form.
        q(
            "104",
            "1040001",
            "ds",
            2,
            "DSSTDAT",
            "2019-03-18",
            "DEATH_INCONSISTENT",
            "End of study by death dated differently from the death date on the survival form (2018-03-15)",
        ),
        # ... and the subject's AE, started after surgery, now starts after the (wrong) death date.
        q("104", "1040001", "ae", 2, "AESTDAT", ae_start, "AE_AFTER_DEATH", "AE starts after the death (2018-03-15)"),
        q("104", "1040001", "ae", 2, "AEENDAT", ae_end, "AE_END_AFTER_DEATH", "AE ends after the death (2018-03-15)"),
    ]


def conflicting_duplicates(raw: Path) -> list[Row]:
    expect(raw, "101", "cm", 3, "101-002")
    row = copy_record(raw, "101", "cm", 3, CMDOSE="1.0")
    msg = f"Records with the same SUBJID, CMSPID but different values (rows 3, {row} of 101/cm.csv); the site must say which is right. All are held back"
    return [q("101", "101-002", "cm", r, "SUBJID,CMSPID", "101-002,1", "DUPLICATE_KEY", msg) for r in (3, row)]


def exact_duplicate(raw: Path) -> list[Row]:
    expect(raw, "104", "lb", 2, "1040001")
    copy_record(raw, "104", "lb", 2)  # a re-export: counted, not queried
    return []


def score_out_of_range(raw: Path) -> list[Row]:
    """ECOG 7 holds back GZ3-2's surgery record, so GZ3-2 cannot be in DM (see test_held_back_subject_is_queried_everywhere)."""
    expect(raw, "103", "surg", 3, "GZ3-2")
    edit(raw, "103", "surg", 3, {"ECOG": 7})
    return [
        q(
            "103",
            "GZ3-2",
            "surg",
            3,
            "ECOG",
            "7",
            "OUT_OF_RANGE",
            "ECOG performance status (ECOG) should be from 0 to 4 (specs/raw/dictionary.csv)",
        ),
        q(
            "103",
            "GZ3-2",
            "enrol",
            3,
            "SUBJID",
            "GZ3-2",
            "DM_SOURCE_MISSING",
            "Enrolled subject has no valid surgery (surg) record; held back from DM",
        ),
    ]


# Cross-form checks made by the SDTM domain modules (DM, AE): the records are kept or left out as
# described, and the queries are exact.


def ae_after_end_of_study(raw: Path) -> list[Row]:
    expect(raw, "104", "ae", 3, "1040002")  # end of study (death) 26-MAY-2022
    row = copy_record(raw, "104", "ae", 3, AESPID="2", AESTDAT="15-JUN-2022", AEENDAT="20-JUN-2022")
    return [
        q(
            "104",
            "1040002",
            "ae",
            row,
            "AESTDAT",
            "2022-06-15",
            "AE_AFTER_END_OF_STUDY",
            "AE starts after the end of study (2022-05-26)",
        ),
        q("104", "1040002", "ae", row, "AESTDAT", "2022-06-15", "AE_AFTER_DEATH", "AE starts after the death (2022-05-26)"),
        q("104", "1040002", "ae", row, "AEENDAT", "2022-06-20", "AE_END_AFTER_DEATH", "AE ends after the death (2022-05-26)"),
    ]


def demographics_of_unknown_subject(raw: Path) -> list[Row]:
    expect(raw, "101", "dm", 2, "101-001")
    row = copy_record(raw, "101", "dm", 2, SUBJID="101-098")
    return [
        q(
            "101",
            "101-098",
            "dm",
            row,
            "SUBJID",
            "101-098",
            "SUBJECT_NOT_ENROLLED",
            "Demographics record of a subject with no enrollment record; not in DM",
        )
    ]


VALUE_CASES: dict[str, Callable[[Path], list[Row]]] = {
    subject_not_enrolled.__name__: subject_not_enrolled,  # copies its record before other cases edit the file
    **{c.name: c for c in ONE_EDIT_CASES},
    **{
        f.__name__: f
        for f in [
            death_before_surgery,
            conflicting_duplicates,
            exact_duplicate,
            score_out_of_range,
            ae_after_end_of_study,
            demographics_of_unknown_subject,
        ]
    },
}
CASCADE_SUBJECT = ("103", "GZ3-2")


# --- file-level cases: (raw) -> (failing form, exact message) --------------------------------------------


def missing_required_column(raw: Path) -> tuple[str, str]:
    p = raw / "101" / "lb.csv"
    lines = p.read_text(encoding="utf-8").splitlines()
    p.write_text(
        "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != 3) for line in lines) + "\n", encoding="utf-8"
    )
    return "lb", "101/lb.csv: required column(s) missing from the header: LBTESTCD"


def unexpected_encoding(raw: Path) -> tuple[str, str]:
    p = raw / "102" / "ae.csv"  # site 102 agreed on GBK; Excel's "Unicode text" is UTF-16
    p.write_bytes(p.read_bytes().decode("gbk").encode("utf-16"))
    return "ae", (
        "102/ae.csv: cannot be decoded as gbk (the encoding agreed for site 102 in sites.yaml): invalid byte 0xff at byte offset 0 (line 1); "
        "was the file saved in another encoding?"
    )


def truncated_csv(raw: Path) -> tuple[str, str]:
    p = raw / "104" / "ie.csv"
    data = p.read_bytes()
    n_rows = data.rstrip(b"\r\n").count(b"\n") + 1
    last = data.rstrip(b"\r\n").rfind(b"\n") + 1
    p.write_bytes(data[: data.index(b",", data.index(b",", last) + 1)])  # the transfer stopped after two fields
    return "ie", f"104/ie.csv: row {n_rows} has 2 of the 4 fields of the header (the last row: the file looks truncated)"


def empty_file(raw: Path) -> tuple[str, str]:
    (raw / "101" / "cm.csv").write_bytes(b"")
    return "cm", "101/cm.csv: the file is empty (no header row)"


def sheet_renamed(raw: Path) -> tuple[str, str]:
    p = raw / "103" / "nl.xlsx"
    wb = openpyxl.load_workbook(p)
    wb["nl"].title = "Sheet1"
    wb.save(p)
    return "nl", "103/nl.xlsx: the workbook has no sheet named 'nl' (sheets found: 'Sheet1')"


def unreadable_workbook(raw: Path) -> tuple[str, str]:
    p = raw / "103" / "ds.xlsx"
    p.write_bytes(p.read_bytes()[:200])  # cut short in transfer
    return "ds", (
        "103/ds.xlsx: not a readable Excel workbook; it is not a complete .xlsx (zip) archive: cut short in transfer,"
        " or saved in another format (ZipError: invalid Zip archive: Could not find EOCD)"
    )


def unknown_site(raw: Path) -> tuple[str, str]:
    shutil.copytree(raw / "101", raw / "105")
    return "*", "105/: folder for site '105', which is not a site in specs/raw/sites.yaml (known sites: 101, 102, 103, 104)"


def unknown_form(raw: Path) -> tuple[str, str]:
    (raw / "101" / "vs.csv").write_text("SITEID,SUBJID,VSDAT\n101,101-001,2017-01-01\n", encoding="utf-8")
    return "*", f"101/vs.csv: file for an unknown form 'vs' (forms in specs/raw/forms.yaml: {', '.join(SPEC.forms)})"


# Issue 16: a failed or hostile drop never damages the package.


def empty_ae_and_changed_sex(raw: Path) -> tuple[str, str]:
    """The run fails on 101/ae.csv; DM would change (101-001 SEX M -> F) but nothing is published."""
    expect(raw, "101", "dm", 2, "101-001")
    assert record(raw, "101", "dm", 2)["SEX"] == "M"
    edit(raw, "101", "dm", 2, {"SEX": "F"})
    (raw / "101" / "ae.csv").write_bytes(b"")
    return "ae", "101/ae.csv: the file is empty (no header row)"


def site_folder_missing(raw: Path) -> tuple[str, str]:
    shutil.rmtree(raw / "104")
    return "*", (
        "104/: site(s) 104 of specs/raw/sites.yaml sent nothing in this drop; a drop holds every site's export, "
        "so nothing is built from it (drop.partial_drops in specs/raw/sites.yaml accepts a partial drop)"
    )


def file_linked_from_outside(raw: Path) -> tuple[str, str]:
    outside = raw.parent / "elsewhere" / "ae.csv"
    outside.parent.mkdir(exist_ok=True)
    shutil.move(raw / "101" / "ae.csv", outside)
    (raw / "101" / "ae.csv").symlink_to(outside)
    return "*", (
        f"101/ae.csv: a link to the file {outside.resolve()}, outside the raw folder; exports are copied into the raw folder, "
        "not linked (drop.follow_links in specs/raw/sites.yaml)"
    )


def folder_linked_from_outside(raw: Path) -> tuple[str, str]:
    outside = raw.parent / "site104"
    shutil.move(raw / "104", outside)
    (raw / "104").symlink_to(outside)
    return "*", (
        f"104/: a link to the folder {outside.resolve()}, outside the raw folder; exports are copied into the raw folder, "
        "not linked (drop.follow_links in specs/raw/sites.yaml)"
    )


def cell_at_xfd1048576(raw: Path) -> tuple[str, str]:
    """calamine would build a 16384 x 1048576 grid and abort the process (signal 6)."""
    p = raw / "103" / "ae.xlsx"
    wb = openpyxl.load_workbook(p)
    ws = wb["ae"]
    used = sum(c.value is not None for row in ws.iter_rows() for c in row)
    ws["XFD1048576"] = "x"
    wb.save(p)
    return "ae", (
        f"103/ae.xlsx: sheet 'ae' reaches cell XFD1048576 (1048576 rows x 16384 columns = 17179869184 cells, {used + 1} cells written), "
        "beyond limits.rows (1048576) or limits.cells (20000000) in specs/raw/sites.yaml; a cell typed far outside the table? not read"
    )


def zip_bomb_workbook(raw: Path) -> tuple[str, str]:
    from tests.test_raw_hostile import zip_bomb

    p = raw / "103" / "lb.xlsx"
    total = zip_bomb(p, 1_700_000_000)
    return "lb", (
        f"103/lb.xlsx: the workbook expands from {p.stat().st_size} to {total} bytes, more than limits.xlsx_expanded_bytes "
        "(1073741824) in specs/raw/sites.yaml; a zip bomb or not an export; not read"
    )


FILE_CASES: dict[str, Callable[[Path], tuple[str, str]]] = {
    f.__name__: f
    for f in [
        missing_required_column,
        unexpected_encoding,
        truncated_csv,
        empty_file,
        sheet_renamed,
        unreadable_workbook,
        unknown_site,
        unknown_form,
        empty_ae_and_changed_sex,
        site_folder_missing,
        file_linked_from_outside,
        folder_linked_from_outside,
        cell_at_xfd1048576,
        zip_bomb_workbook,
    ]
}
# Cases on forms DM does not read share one run; the others stop DM (or every raw asset).
SHARED_RUN = ["missing_required_column", "unexpected_encoding", "truncated_csv", "empty_file", "sheet_renamed"]
OWN_RUN = [
    "unreadable_workbook",
    "unknown_site",
    "unknown_form",
    "empty_ae_and_changed_sex",
    "site_folder_missing",
    "file_linked_from_outside",
]
HOSTILE_RUN = ["cell_at_xfd1048576", "zip_bomb_workbook"]  # two hostile workbooks on forms DM does not read
RUN_CASES = [*SHARED_RUN, *OWN_RUN, *HOSTILE_RUN]  # folder_linked_from_outside: extract only (the same refusal as a linked file)


# --- runs ------------------------------------------------------------------------------------------------------


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Run:
    raw: Path
    out: Path
    report: RunReport
    failures: dict[str, str]  # step key -> message of the exception the step raised
    checks: dict[tuple[str, str], dg.AssetCheckEvaluation]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory):
    """run(raw, out) -> Run, on a private Dagster instance, with the ops checks in the definitions."""
    from pipeline import definitions

    home = tmp_path_factory.mktemp("work")
    original = definitions.build_definitions
    instance = dg.DagsterInstance.ephemeral()

    def with_ops_checks(*args, **kwargs) -> dg.Definitions:
        defs = original(*args, **kwargs)
        have = {k for c in defs.asset_checks or [] for k in c.check_keys}
        extra = [c for c in ops_asset_checks if not set(c.check_keys) & have]  # until definitions.py lists them
        return dg.Definitions.merge(defs, dg.Definitions(asset_checks=extra)) if extra else defs

    with pytest.MonkeyPatch.context() as mp:
        # One in-memory instance of our own (never the shared .dagster_home): the latest run is ours, and fast.
        mp.delenv("DAGSTER_HOME", raising=False)
        mp.setattr(dg.DagsterInstance, "ephemeral", staticmethod(lambda *a, **k: instance))
        mp.setattr(definitions, "build_definitions", with_ops_checks)
        work = iter(range(1000))

        def run(raw: Path, out: Path) -> Run:
            report = run_study(raw, out, work_dir=home / f"work{next(work)}")
            run_id = instance.get_runs(limit=1)[0].run_id
            failures = {}
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
                err = e.dagster_event.event_specific_data.error
                err = err.cause or err
                failures[e.dagster_event.step_key] = (err.cls_name, err.message.split(": ", 1)[1].strip())
            checks = {}
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
                ev = e.dagster_event.event_specific_data
                checks[("/".join(ev.asset_key.path), ev.check_name)] = ev
            return Run(raw, out, report, failures, checks)

        yield run


@pytest.fixture(scope="module")
def clean_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("study") / "raw"
    generate_study(n_subjects=12, seed=7, out_dir=raw, problem_rate=0)
    return raw


@pytest.fixture(scope="module")
def last_night(clean_raw: Path, runner, tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = runner(clean_raw, tmp_path_factory.mktemp("last_night") / "outputs")
    assert run.report.success, run.report.summary()
    assert not run.report.failed_checks
    assert (run.out / "queries" / "101.csv").is_file() and pd.read_csv(run.out / "queries" / "101.csv").empty
    return run


@pytest.fixture(scope="module")
def value_run(
    clean_raw: Path, last_night: Run, runner, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, dict[str, list[Row]]]:
    raw = tmp_path_factory.mktemp("bad_values") / "raw"
    shutil.copytree(clean_raw, raw)
    expected = {name: case(raw) for name, case in VALUE_CASES.items()}
    return runner(raw, tmp_path_factory.mktemp("bad_values") / "outputs"), expected


def listing(run: Run) -> pd.DataFrame:
    frames = [
        pd.read_csv(p, dtype=str, encoding="utf-8-sig", keep_default_na=False)
        for p in sorted((run.out / "queries").glob("*.csv"))
    ]
    out = pd.concat(frames, ignore_index=True)
    out["row"] = pd.Series([int(r) if r else None for r in out["row"]], index=out.index, dtype=object)  # blank: a drop query
    return out


def assert_consistent_with_manifest(out: Path) -> None:
    """Every file of the published package is in its manifest with the same sha256, and nothing else."""
    import json

    doc = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listed = {e["path"]: e["sha256"] for e in doc["outputs"]}
    found = {k: v for k, v in tree_digest(out).items() if k != "manifest.json" and not k.startswith("conformance/")}
    assert found == listed


def rows_of(df: pd.DataFrame) -> set[Row]:
    return set(df[LISTING].itertuples(index=False, name=None))


def lineage(run: Run, domain: str | None = None) -> set[tuple[str, int]]:
    paths = (
        [run.out / "sdtm" / "lineage" / f"{domain}.parquet"]
        if domain
        else sorted((run.out / "sdtm" / "lineage").glob("*.parquet"))
    )
    frames = [pd.read_parquet(p, columns=["RAWFILE", "RAWROW"]).dropna() for p in paths]
    both = pd.concat(frames, ignore_index=True)
    return set(zip(both["RAWFILE"].astype(str), both["RAWROW"].astype(int)))


# --- value-level ---------------------------------------------------------------------------------------------------


def test_the_run_continues_and_every_check_passes(value_run) -> None:
    run, _ = value_run
    assert run.report.success, run.report.summary()
    assert run.report.failed_checks == []
    forms = {(f"raw/{f}", "records_accounted_for") for f in SPEC.forms}
    assert forms | {("sdtm/dm", CHECK_NAME)} <= set(run.checks)


@pytest.mark.parametrize("case", list(VALUE_CASES))
def test_value_problem_is_queried_exactly(value_run, case: str) -> None:
    run, expected = value_run
    got = rows_of(listing(run))
    missing = set(expected[case]) - got
    assert not missing, missing


def test_the_listing_holds_nothing_else(value_run) -> None:
    """The whole listing is the expected rows plus the held-back subject's cascade: nothing else."""
    run, expected = value_run
    got = listing(run)
    cascade = (got["siteid"] == CASCADE_SUBJECT[0]) & (got["subjid"] == CASCADE_SUBJECT[1]) & (got["rule"] == "SUBJECT_NOT_IN_DM")
    want = {r for rows in expected.values() for r in rows}
    have = rows_of(got[~cascade])
    assert have == want, (sorted(have - want), sorted(want - have))


def test_held_back_subject_is_queried_everywhere(value_run) -> None:
    """GZ3-2's surgery record is held back (ECOG 7), so GZ3-2 is not in DM: each of its records in any other form is a query."""
    run, _ = value_run
    got = listing(run)
    site, subj = CASCADE_SUBJECT
    mine = got[(got["siteid"] == site) & (got["subjid"] == subj)]
    held = set()
    for form in SPEC.forms:
        if form in ("enrol", "dm", "surg"):  # enrollment: DM_SOURCE_MISSING; dm: unused without surgery; surg: OUT_OF_RANGE
            continue
        x = extract_form(run.raw, form)
        held |= set(zip(x.data.loc[x.data["SUBJID"] == subj, "_file"], x.data.loc[x.data["SUBJID"] == subj, "_row"]))
    cascade = mine[mine["rule"] == "SUBJECT_NOT_IN_DM"]
    assert set(zip(cascade["file"], cascade["row"])) == held and len(held) > 30
    assert set(mine["rule"]) == {"OUT_OF_RANGE", "DM_SOURCE_MISSING", "SUBJECT_NOT_IN_DM"}
    dm = pd.read_parquet(run.out / "sdtm" / "dm.parquet")
    assert subj not in set(dm["SUBJID"])


def test_downstream_keeps_every_valid_record_and_no_held_one(value_run, last_night: Run) -> None:
    run, expected = value_run
    got = listing(run)
    # Inconsistent dates are queried but the records kept (the site confirms or corrects them).
    kept = got["rule"].isin(
        [
            "DEATH_BEFORE_HEPATECTOMY",
            "DEATH_BEFORE_LAST_ASSESSMENT",
            "DEATH_INCONSISTENT",
            "AE_AFTER_DEATH",
            "AE_AFTER_END_OF_STUDY",
            "AE_END_AFTER_DEATH",
            "BIRTH_AFTER_CONSENT",
        ]
    )
    held = set(zip(got.loc[~kept, "file"], got.loc[~kept, "row"]))
    assert not held & lineage(run)
    # AE: last night's records minus the held ones, plus the (valid) AE after the end of study.
    new_ae = {(r[3], r[4]) for r in expected["ae_after_end_of_study"]}
    assert lineage(run, "ae") == (lineage(last_night, "ae") - held) | new_ae
    dm = pd.read_parquet(run.out / "sdtm" / "dm.parquet")
    assert len(dm) == 11 and len(pd.read_parquet(last_night.out / "sdtm" / "dm.parquet")) == 12


def test_records_accounted_for_with_counts(value_run) -> None:
    run, _ = value_run
    assert all(run.checks[(f"raw/{f}", "records_accounted_for")].passed for f in SPEC.forms)
    head = "| siteid | rows_read | exact_duplicates | quarantined | passed | balanced |\n|---|---|---|---|---|---|\n"
    # lb 104: 16 records + 1 re-exported = 17 read, 1 exact duplicate (102 re-exported one row already last night);
    # 101: rows 3 and 4 held; 102: row 2 held.
    assert run.checks[("raw/lb", "records_accounted_for")].metadata["per_site"].value == head + (
        "| 101 | 40 | 0 | 2 | 38 | True |\n| 102 | 17 | 1 | 1 | 15 | True |\n| 103 | 24 | 0 | 0 | 24 | True |\n| 104 | 17 | 1 | 0 | 16 | True |"
    )
    # ae 101: 4 records + 101-099 = 5 read, rows 2, 3, 5 held (101-099 passes here, SDTM holds it back).
    assert run.checks[("raw/ae", "records_accounted_for")].metadata["per_site"].value == head + (
        "| 101 | 5 | 0 | 3 | 2 | True |\n| 102 | 3 | 0 | 2 | 1 | True |\n| 103 | 5 | 0 | 1 | 4 | True |\n| 104 | 3 | 0 | 0 | 3 | True |"
    )


def test_subjects_accounted_for(value_run) -> None:
    run, _ = value_run
    ev = run.checks[("sdtm/dm", CHECK_NAME)]
    assert ev.passed
    assert ev.metadata["enrolled_subjects"].value == 12 and ev.metadata["unaccounted_subjects"].value == 0
    table = ev.metadata["per_site"].value
    assert "| 103 | 3 | 2 | 1 | 0 | 0 | 0 |" in table  # GZ3-2: in DM's queries (DM_SOURCE_MISSING)


def test_identifier_values_never_reach_the_listing(value_run) -> None:
    run, _ = value_run
    got = listing(run)
    assert "2019-01-01" not in " ".join(got["value"]) + " ".join(got["message"])


# --- file-level --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_extract_fails_with_one_message_naming_file_and_problem(clean_raw: Path, tmp_path: Path, case: str) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(clean_raw, raw)
    form, message = FILE_CASES[case](raw)
    with pytest.raises(RawFileError) as err:
        extract_form(raw, "enrol" if form == "*" else form)
    assert str(err.value) == message


@pytest.fixture(scope="module")
def file_runs(
    clean_raw: Path, last_night: Run, runner, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Run, dict[str, tuple[str, str]], dict[str, str]]]:
    """Each run starts from a copy of last night's outputs; returns {case: (run, expected {step: message}, digest before)}."""
    out: dict = {}
    for group in [SHARED_RUN, *[[c] for c in OWN_RUN], HOSTILE_RUN]:
        base = tmp_path_factory.mktemp("bad_files")
        raw, outputs = base / "raw", base / "outputs"
        shutil.copytree(clean_raw, raw)
        shutil.copytree(last_night.out, outputs)
        before = tree_digest(outputs)
        expected = {}
        for case in group:
            form, message = FILE_CASES[case](raw)
            for f in SPEC.forms if form == "*" else [form]:
                expected[f"raw__{f}"] = message
        run = runner(raw, outputs)
        for case in group:
            out[case] = (run, expected, before)
    return out


@pytest.mark.parametrize("case", RUN_CASES)
def test_file_problem_fails_its_raw_asset_and_leaves_outputs_untouched(file_runs, case: str) -> None:
    run, expected, before = file_runs[case]
    assert not run.report.success
    # Exactly the affected raw assets fail, each with one message naming the file and the problem.
    assert run.failures == {step: ("RawFileError", msg) for step, msg in expected.items()}
    # Nothing is published: every deliverable and the manifest are last night's; no staging folder is left.
    assert tree_digest(run.out) == before
    assert sorted(p.name for p in run.out.parent.iterdir()) == sorted(
        [".outputs.lock", "outputs", "raw", *(["elsewhere"] if case == "file_linked_from_outside" else [])]
    )


def test_a_failed_run_keeps_the_previous_dm_everywhere(file_runs) -> None:
    """101-001's SEX changed in the failed drop: SDTM Parquet, XPT and ADSL all still say M, as the manifest does."""
    run, _, _ = file_runs["empty_ae_and_changed_sex"]
    dm = pd.read_parquet(run.out / "sdtm" / "dm.parquet")
    adsl = pd.read_parquet(run.out / "adam" / "adsl.parquet")
    assert dm.loc[dm["SUBJID"] == "101-001", "SEX"].item() == "M"
    assert adsl.loc[adsl["SUBJID"] == "101-001", "SEX"].item() == "M"
    assert_consistent_with_manifest(run.out)


def test_dm_side_was_rebuilt_in_the_shared_file_run(file_runs) -> None:
    """The five broken forms are not read by DM: DM and its dependants ran (and wrote the same bytes)."""
    run, _, _ = file_runs[SHARED_RUN[0]]
    done = {k for k, _ in run.report.materialized}
    assert {"sdtm/dm", "sdtm/ds", "sdtm/ex", "sdtm/rs", "sdtm/dd"} <= done
    assert not {"sdtm/ae", "sdtm/lb", "ops/query_listing", "submission/manifest"} & done


def test_the_run_report_names_the_file_and_problem(file_runs) -> None:
    run, expected, _ = file_runs["empty_file"]
    assert any(expected["raw__cm"] in f for f in run.report.failures), run.report.failures


# --- the subjects_accounted_for check on its own ---------------------------------------------------------------


def test_subject_accounting_finds_a_lost_subject() -> None:
    from pipeline.ops.checks import subject_accounting
    from pipeline.raw.extract import FormExtract
    from pipeline.sdtm.common import DomainResult

    def quarantine(rows: list[tuple]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=LISTING)

    enrol = FormExtract(
        "enrol",
        pd.DataFrame(
            {
                "SUBJID": ["101-001", "101-002", "101-003", "101-004"],
                "_site": "101",
                "_file": "101/enrol.csv",
                "_row": [2, 3, 4, 5],
            }
        ),
        quarantine([("102", "S102009", "enrol", "102/enrol.csv", 2, "RFICDAT", "31/02/2019", "DATE_INVALID", "...")]),
        pd.DataFrame(),
        (),
    )
    dm = DomainResult(
        "DM",
        pd.DataFrame({"SITEID": ["101"], "SUBJID": ["101-001"]}),
        pd.DataFrame(),
        quarantine([("101", "101-002", "enrol", "101/enrol.csv", 3, "SUBJID", "101-002", "DM_SOURCE_MISSING", "...")]),
    )
    other = {"ae": quarantine([("101", "101-003", "ae", "101/ae.csv", 7, "AETOXGR", "6", "CODE_UNKNOWN", "...")])}
    per_site, subjects = subject_accounting(enrol, dm, {"enrol": enrol.quarantine, **other}, ["101", "102", "103"])
    assert subjects.values.tolist() == [
        ["101", "101-001", "in_dm", "101/enrol.csv", 2],
        ["101", "101-002", "dm_query", "101/enrol.csv", 3],
        ["101", "101-003", "other_quarantine", "101/enrol.csv", 4],
        ["101", "101-004", "unaccounted", "101/enrol.csv", 5],
        ["102", "S102009", "enrol_quarantine", "102/enrol.csv", 2],
    ]
    assert per_site.values.tolist() == [["101", 4, 1, 1, 0, 1, 1], ["102", 1, 0, 0, 1, 0, 0], ["103", 0, 0, 0, 0, 0, 0]]


def test_subjects_check_definition() -> None:
    (check,) = ops_asset_checks
    (spec,) = check.check_specs
    assert spec.key == dg.AssetCheckKey(dg.AssetKey(["sdtm", "dm"]), CHECK_NAME) and not spec.blocking
    assert {dg.AssetKey(["raw", f]) for f in SPEC.forms} <= {d.asset_key for d in spec.additional_deps}


# --- issue 16: refused before anything is written ------------------------------------------------------------


def _good_build(last_night: Run, base: Path) -> Path:
    out = base / "outputs"
    shutil.copytree(last_night.out, out)
    return out


def test_an_empty_raw_folder_is_refused_and_the_package_untouched(last_night: Run, tmp_path: Path) -> None:
    from pipeline.runner import RunRefused

    out = _good_build(last_night, tmp_path)
    before = tree_digest(out)
    (tmp_path / "raw").mkdir()
    with pytest.raises(RunRefused) as err:
        run_study(tmp_path / "raw", out, work_dir=tmp_path / "work")
    assert err.value.exit_code == 2
    assert str(err.value) == (
        f"the raw folder {tmp_path / 'raw'} holds no export (no <siteid>/<form>.csv|xlsx of a site in "
        f"specs/raw/sites.yaml); nothing was run and {out} is untouched"
    )
    assert tree_digest(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["outputs", "raw"]


def test_work_inside_out_is_refused(clean_raw: Path, last_night: Run, tmp_path: Path) -> None:
    from pipeline.runner import RunRefused

    out = _good_build(last_night, tmp_path)
    before = tree_digest(out)
    with pytest.raises(RunRefused) as err:
        run_study(clean_raw, out, work_dir=out / "work")
    assert err.value.exit_code == 2
    assert str(err.value) == (
        f"--work {out / 'work'} lies inside --out {out}: intermediate values hold raw identifiers "
        "(names, initials, birth dates) and must never be part of the deliverables"
    )
    assert tree_digest(out) == before


def test_out_inside_raw_is_refused(clean_raw: Path, tmp_path: Path) -> None:
    from pipeline.runner import RunRefused

    raw = tmp_path / "raw"
    shutil.copytree(clean_raw, raw)
    before = tree_digest(raw)
    with pytest.raises(RunRefused) as err:
        run_study(raw, raw / "out", work_dir=tmp_path / "work")
    assert err.value.exit_code == 2
    assert (
        str(err.value)
        == f"--out {raw / 'out'} lies inside the raw folder {raw}: deliverables must not be written into the site exports"
    )
    assert tree_digest(raw) == before and not (raw / "out").exists()


# --- issue 16: drift that is not a failure is a query, a WARN check and the summary's first lines -------------


@pytest.fixture(scope="module")
def drift_run(clean_raw: Path, last_night: Run, runner, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, list[Row]]:
    base = tmp_path_factory.mktemp("drift")
    raw = base / "raw"
    shutil.copytree(clean_raw, raw)
    (raw / "101" / "ae.csv").unlink()  # site 101 sends no AE file this time
    dm = raw / "101" / "dm.csv"
    dm.write_bytes(dm.read_bytes().replace(b",RACE", b",RACE_DESC", 1))  # an optional column renamed
    wb = openpyxl.load_workbook(raw / "103" / "ae.xlsx")  # a second sheet with 3 AE records
    extra = wb.create_sheet("Sheet2")
    for row in wb["ae"].iter_rows(min_row=1, max_row=4, values_only=True):
        extra.append(row)
    wb.save(raw / "103" / "ae.xlsx")
    expect(raw, "104", "ae", 3, "1040002")
    term = str(record(raw, "104", "ae", 3)["AETERM"])
    edit(raw, "104", "ae", 3, {"AETERM": term[:4] + "\x00" + term[4:]})  # one NUL byte
    expect(raw, "104", "ae", 2, "1040001")
    edit(raw, "104", "ae", 2, {"AETERM": "x" * 10_000_000})  # one 10 MB field
    expected = [
        (
            "101",
            "",
            "ae",
            "101/ae.csv",
            None,
            "",
            "",
            "FORM_MISSING",
            "Site 101 sent no 'ae' file in this drop; none of its ae records are in this build",
        ),
        (
            "101",
            "",
            "dm",
            "101/dm.csv",
            None,
            "RACE_DESC",
            "",
            "COLUMN_UNKNOWN",
            "Column RACE_DESC in 101/dm.csv is not in the dictionary for form 'dm' (specs/raw/dictionary.csv); its values are not read",
        ),
        (
            "101",
            "",
            "dm",
            "101/dm.csv",
            None,
            "RACE",
            "",
            "COLUMN_MISSING",
            "Column RACE of form 'dm' is missing from 101/dm.csv; read as blank for every record of the file",
        ),
        (
            "103",
            "",
            "ae",
            "103/ae.xlsx",
            None,
            "Sheet2",
            "4",
            "SHEET_UNREAD",
            "Sheet 'Sheet2' in 103/ae.xlsx holds 4 row(s) but only the sheet named 'ae' is read; move its records there or remove it",
        ),
        q(
            "104",
            "1040001",
            "ae",
            2,
            "AETERM",
            "x" * 40 + "... (10000000 characters)",
            "FIELD_TOO_LONG",
            "Adverse event (verbatim) (AETERM) is 10000000 characters long, more than limits.field_chars (32767) in specs/raw/sites.yaml; record held back",
        ),
        q(
            "104",
            "1040002",
            "ae",
            3,
            "AETERM",
            term[:4] + "\\x00" + term[4:],
            "CONTROL_CHARACTER",
            "Adverse event (verbatim) (AETERM) holds a control character (NUL or another non-printing byte) that no EDC writes; record held back",
        ),
    ]
    return runner(raw, base / "outputs"), expected


def test_drift_is_queried_exactly_and_nothing_else(drift_run) -> None:
    run, expected = drift_run
    assert run.report.success, run.report.summary()
    assert rows_of(listing(run)) == set(expected)


def test_drift_fails_the_warn_checks_and_opens_the_summary(drift_run, last_night: Run) -> None:
    run, _ = drift_run
    drop = {k[0]: v for k, v in run.checks.items() if k[1] == "drop_as_agreed"}
    assert {k for k, v in drop.items() if not v.passed} == {"raw/ae", "raw/dm"}
    assert all(v.severity == dg.AssetCheckSeverity.WARN for v in drop.values())
    assert run.report.summary().splitlines()[:2] == [
        "WARNING: drop not as agreed (raw/ae): FORM_MISSING 101/ae.csv; SHEET_UNREAD 103/ae.xlsx Sheet2",
        "WARNING: drop not as agreed (raw/dm): COLUMN_UNKNOWN 101/dm.csv RACE_DESC; COLUMN_MISSING 101/dm.csv RACE",
    ]
    # The rest of 104/ae.csv is read; site 101 has no AE this time, RACE is blank for its subjects.
    ae = pd.read_parquet(run.out / "sdtm" / "ae.parquet")
    assert not (ae["USUBJID"].str.contains("-101-")).any()
    dm = pd.read_parquet(run.out / "sdtm" / "dm.parquet").set_index("USUBJID")["RACE"].fillna("")
    before = pd.read_parquet(last_night.out / "sdtm" / "dm.parquet").set_index("USUBJID")["RACE"].fillna("")
    site101 = dm.index.str.contains("-101-")
    assert (dm[site101] == "").all() and (before[site101] != "").sum() == 3  # 3 of the 5 had a race last night
    assert dm[~site101].equals(before[~site101])
    assert_consistent_with_manifest(run.out)


# --- issue 16: a full disk or a kill at any point leaves the published package consistent ------------------


@pytest.mark.parametrize("target", ["sdtm/define.xml", "queries/103.xlsx", "manifest.json"])
def test_enospc_publishes_nothing(clean_raw: Path, last_night: Run, runner, tmp_path: Path, target: str) -> None:
    """The disk fills while one file is written (early, in the middle, the manifest last): the run fails, the
    package readers see is last night's, consistent with its manifest, and no staging folder is left."""
    import errno

    from pipeline import io as pio
    from pipeline.submission import xpt

    out = _good_build(last_night, tmp_path)
    before = tree_digest(out)
    real = pio.atomic_path

    def full_disk(path: Path):
        p = Path(path)
        if p.relative_to(p.parents[len(Path(target).parts) - 1]).as_posix() == target:
            raise OSError(errno.ENOSPC, "No space left on device", str(p))
        return real(path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pio, "atomic_path", full_disk)
        mp.setattr(xpt, "atomic_path", full_disk)
        run = runner(clean_raw, out)
    assert not run.report.success
    assert any("No space left on device" in f for f in run.report.failures), run.report.failures
    assert tree_digest(out) == before
    assert_consistent_with_manifest(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".outputs.lock", "outputs"]


def _cli(raw: Path, out: Path, work: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop("DAGSTER_HOME", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--raw", str(raw), "--out", str(out), "--work", str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parents[1],
    )


def _wait_for(cond: Callable[[], bool], proc: subprocess.Popen, timeout: float = 600) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_sigkill_at_several_points_and_a_second_run_refused(clean_raw: Path, last_night: Run, tmp_path: Path) -> None:
    """Runs killed (SIGKILL) while the staging folder holds SDTM, ADaM or the submission package: each time the
    published package is last night's, consistent with its manifest. A second run while one runs is refused
    (exit 3, naming the holder); the run after the kills takes over the stale lock and cleans the staging."""
    out = _good_build(last_night, tmp_path)
    before = tree_digest(out)
    stage = lambda: [p for p in tmp_path.iterdir() if p.name.startswith(".outputs.staging-")]  # noqa: E731
    points = {"sdtm": "sdtm/dm.parquet", "adam": "adam/adsl.parquet", "package": "sdtm/define.xml"}
    for i, (name, marker) in enumerate(points.items()):
        proc = _cli(clean_raw, out, tmp_path / "work")
        try:
            if i == 0:
                assert _wait_for(lambda: bool(stage()), proc)
                second = _cli(clean_raw, out, tmp_path / "work2")
                _, err = second.communicate(timeout=600)
                assert second.returncode == 3
                assert err.strip().startswith(f"error: another run is writing {out} (pid {proc.pid} on ")
                assert err.strip().endswith("this run refused before writing anything: wait for it to finish")
            # The staging folder starts as links to the published files: a rewritten file has a new inode.
            reached = _wait_for(
                lambda marker=marker: any(
                    (s / marker).exists() and (s / marker).stat().st_ino != (out / marker).stat().st_ino for s in stage()
                ),
                proc,
            )
            assert reached, f"the run ended before reaching {name}"
        finally:
            proc.kill()
            proc.wait()
        assert tree_digest(out) == before, name
        assert_consistent_with_manifest(out)
    proc = _cli(clean_raw, out, tmp_path / "work")
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    assert stdout.splitlines()[0].startswith("WARNING: took over the lock left by a run that ended without releasing it (pid ")
    assert tree_digest(out) == before  # the same drop gives the same bytes
    assert_consistent_with_manifest(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".outputs.lock", "outputs", "work"]
