"""Visit names: the sites write the follow-up month in their own words; SDTM gets one English name.

Follow-up visits are named by the month after the hepatectomy: ``Month 6`` (site 101),
``术后6个月`` (102), ``术后第6月`` (103), ``MONTH 6`` (104). Each becomes VISIT = ``MONTH 6``
and VISITNUM = 6. A name none of the patterns reads is not guessed: it is returned
unmapped so the domain can raise a query.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.terminology import normalise_text

# Each pattern captures the month number.
PATTERNS = [
    r"^(?:MONTH|M)\s*(\d{1,3})$",
    r"^术后\s*第?\s*(\d{1,3})\s*个?\s*月$",
    r"^POST-?OP(?:ERATIVE)?\s+MONTH\s*(\d{1,3})$",
]


def standard_visit(visit: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Collected visit names -> (VISIT, VISITNUM as float, unknown mask); blanks stay blank (not unknown)."""
    # The patterns run once per distinct name (a study has a few dozen), not once per record.
    codes, names = pd.factorize(normalise_text(visit))
    name, num, unknown = _standard_names(pd.Series(names, dtype=object))
    name = np.append(name.to_numpy(dtype=object), None)[codes]
    num = np.append(num.to_numpy(dtype="float64"), np.nan)[codes]
    unknown = np.append(unknown.to_numpy(dtype=bool), False)[codes]
    return (pd.Series(name, index=visit.index, dtype=object), pd.Series(num, index=visit.index, dtype="float64"),
            pd.Series(unknown, index=visit.index, dtype=bool))


def _standard_names(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """:func:`standard_visit` of normalised names (str), element by element."""
    text = text.astype("string").str.upper()
    month = pd.Series(pd.NA, index=text.index, dtype="string")
    for pat in PATTERNS:
        found = text.str.extract(pat, expand=False)
        month = month.fillna(found)
    num = pd.to_numeric(month, errors="coerce").astype("float64")
    name = ("MONTH " + month).astype(object).where(month.notna(), None)
    unknown = text.notna() & month.isna()
    return pd.Series(name, index=text.index, dtype=object), num, unknown.astype(bool)
