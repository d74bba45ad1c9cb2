"""Visit names of every site read into one English name; an unreadable name is flagged, not guessed.
The protocol's schedule (specs/trial/tv.csv) and the visit rule every Findings domain uses, by hand.
"""

import pandas as pd
import pytest
from listed import listed

from pipeline.sdtm.visits import assign_visits, schedule, standard_visit


def test_each_site_style():
    v = pd.Series(["Month 2", "术后8个月", "术后第10月", "MONTH 27", "month 3", "术后１２个月", None, "Unscheduled"])
    name, num, unknown = standard_visit(v)
    assert listed(name) == ["MONTH 2", "MONTH 8", "MONTH 10", "MONTH 27", "MONTH 3", "MONTH 12", None, None]
    assert num.tolist()[:6] == [2, 8, 10, 27, 3, 12]
    assert unknown.tolist() == [False] * 7 + [True]


# --- the schedule and the visit rule ---------------------------------------------------------------


def test_schedule_is_the_protocol_grid():
    tv = schedule()
    assert listed(tv["VISIT"].head(3)) == ["HEPATECTOMY", "SCREENING", "MONTH 2"]
    months = [int(v.split()[1]) for v in tv["VISIT"] if v.startswith("MONTH")]
    # Every 2 months to month 24, then every 3 months (declared to month 120).
    assert months == [*range(2, 25, 2), *range(27, 121, 3)] and 25 not in months and 26 not in months
    assert tv["VISITNUM"].tolist() == [0.0, 1.0, *map(float, months)]
    day = dict(zip(tv["VISIT"], tv["VISITDY"]))
    # 1 + n x 365.25 / 12 rounded half up: 60.875 -> 61; 730.5 -> 731; 821.8125 -> 822; 3652.5 -> 3653.
    assert (day["HEPATECTOMY"], day["MONTH 2"], day["MONTH 24"], day["MONTH 27"], day["MONTH 120"]) == (1, 62, 732, 823, 3654)
    assert pd.isna(day["SCREENING"])


A, B = "S-A", "S-B"  # RFSTDTC 2018-01-10 and 2018-02-01


def test_visit_rule_by_form_name_then_date():
    rows = [
        (A, "2018-06-01", None, "SCREENING"),  # the form fixes the visit, whatever the date
        (A, "2018-07-09", "Month 6", None),  # a planned visit by its collected name
        (A, "2018-06-09", "Month 5", None),  # off the schedule: day 151, after MONTH 4 (day 123) -> 4.01
        (A, "2018-03-12", None, None),  # day 62 = VISITDY of MONTH 2: after it -> 2.01
        (A, "2018-03-11", None, None),  # day 61: after SCREENING (from day 2), its second date -> 1.02
        (A, "2018-01-11", None, None),  # day 2: after SCREENING, its first date -> 1.01
        (A, "2018-03-12", None, None),  # the same date again: the same unscheduled visit
        (A, "2018-03", None, None),  # partial date, no planned visit: nothing to place it by
        (B, "2018-01-27", None, None),  # day -5, before the hepatectomy: after visit 0 -> 0.01
        (B, "2018-02-01", None, None),  # day 1 (VISITDY of HEPATECTOMY): after visit 0, second date -> 0.02
        (B, None, "Baseline", None),  # unreadable name and no date
    ]
    df = pd.DataFrame(rows, columns=["u", "dtc", "visit", "planned"])
    ref = df["u"].map({A: "2018-01-10", B: "2018-02-01"})
    num, name = assign_visits(df["u"], df["dtc"], ref, df["visit"], df["planned"])
    assert listed(num) == [1.0, 6.0, 4.01, 2.01, 1.02, 1.01, 2.01, None, 0.01, 0.02, None]
    assert listed(name) == [
        "SCREENING",
        "MONTH 6",
        "UNSCHEDULED 4.01",
        "UNSCHEDULED 2.01",
        "UNSCHEDULED 1.02",
        "UNSCHEDULED 1.01",
        "UNSCHEDULED 2.01",
        None,
        "UNSCHEDULED 0.01",
        "UNSCHEDULED 0.02",
        None,
    ]


def test_unknown_planned_visit_is_a_specification_error():
    u = pd.Series([A])
    with pytest.raises(ValueError, match="planned visit \\['BASELINE'\\] not in specs/trial/tv.csv"):
        assign_visits(u, pd.Series([None]), pd.Series(["2018-01-10"]), planned="BASELINE")
