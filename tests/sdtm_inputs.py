"""Build raw-layer results (FormExtract) by hand, for SDTM tests that do not read files.

Values are given as the raw layer delivers them: canonical codes, ISO 8601 dates
(partial kept), numbers as numbers. Fields not given are blank.
"""

import pandas as pd

from pipeline.columns import TEXT
from pipeline.raw.extract import COUNT_COLS, QUARANTINE_COLS, FormExtract
from pipeline.specs.raw import load_raw_spec


def extract(form: str, rows: list[dict], site: str = "101") -> FormExtract:
    spec = load_raw_spec().forms[form]
    df = pd.DataFrame(rows, columns=spec.field_names)
    # The raw layer's dtypes: text, codes and dates as TEXT, integers Int64, floats float64.
    df = df.astype({f.name: {"integer": "Int64", "float": "float64"}.get(f.type, TEXT) for f in spec.fields})
    df["SITEID"] = df["SITEID"].fillna(site)
    df["_site"] = df["SITEID"]
    df["_file"] = [f"{s}/{form}.csv" for s in df["SITEID"]]
    df["_row"] = range(2, len(df) + 2)
    empty = pd.DataFrame(columns=QUARANTINE_COLS)
    return FormExtract(form, df, empty, pd.DataFrame(columns=COUNT_COLS), ())


def empty(form: str) -> FormExtract:
    return extract(form, [])
