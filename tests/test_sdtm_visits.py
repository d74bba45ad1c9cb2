"""Visit names of every site read into one English name; an unreadable name is flagged, not guessed."""

import pandas as pd

from listed import listed
from pipeline.sdtm.visits import standard_visit


def test_each_site_style():
    v = pd.Series(["Month 2", "术后8个月", "术后第10月", "MONTH 27", "month 3", "术后１２个月", None, "Unscheduled"])
    name, num, unknown = standard_visit(v)
    assert listed(name) == ["MONTH 2", "MONTH 8", "MONTH 10", "MONTH 27", "MONTH 3", "MONTH 12", None, None]
    assert num.tolist()[:6] == [2, 8, 10, 27, 3, 12]
    assert unknown.tolist() == [False] * 7 + [True]
