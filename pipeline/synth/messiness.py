"""Site habits and data problems: how each site writes dates, codes, numbers, ids and terms.

A :class:`SiteStyle` turns canonical values (day numbers, canonical codes, SI numbers)
into what that site's EDC export contains. Every choice is drawn from the study's one
random generator, so the rendering is deterministic too.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from functools import lru_cache

import numpy as np

from pipeline.specs.paths import SPECS_DIR
from pipeline.synth._util import EPOCH, NA, day, ymd

MON = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V", "6": "VI"}
CJK = re.compile(r"[\u3400-\u9fff]")
FULLWIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")
DATE_BASE = day("1920-01-01")
DATE_END = day("2035-12-31")

# Reporting units per site: (unit as written, factor from the SI value, decimals).
LAB_UNITS: dict[str, dict[str, tuple[str, float, int]]] = {
    "101": {
        "WBC": ("10^9/L", 1, 1),
        "HGB": ("g/L", 1, 0),
        "PLT": ("10^9/L", 1, 0),
        "ALT": ("U/L", 1, 0),
        "AST": ("U/L", 1, 0),
        "CREAT": ("umol/L", 1, 0),
        "BILI": ("umol/L", 1, 1),
        "ALB": ("g/L", 1, 1),
    },
    "102": {
        "WBC": ("×10^9/L", 1, 1),
        "HGB": ("g/L", 1, 0),
        "PLT": ("×10^9/L", 1, 0),
        "ALT": ("U/L", 1, 0),
        "AST": ("U/L", 1, 0),
        "CREAT": ("μmol/L", 1, 0),
        "BILI": ("μmol/L", 1, 1),
        "ALB": ("g/L", 1, 1),
    },
    "103": {
        "WBC": ("×10^9/L", 1, 2),
        "HGB": ("g/L", 1, 0),
        "PLT": ("×10^9/L", 1, 0),
        "ALT": ("U/L", 1, 0),
        "AST": ("U/L", 1, 0),
        "CREAT": ("μmol/L", 1, 0),
        "BILI": ("μmol/L", 1, 1),
        "ALB": ("g/L", 1, 1),
    },
    # Site 104 reports conventional units: haemoglobin/albumin in g/dL, creatinine/bilirubin in mg/dL.
    "104": {
        "WBC": ("10E9/L", 1, 1),
        "HGB": ("g/dL", 0.1, 1),
        "PLT": ("10*9/L", 1, 0),
        "ALT": ("IU/L", 1, 0),
        "AST": ("IU/L", 1, 0),
        "CREAT": ("mg/dL", 1 / 88.4, 2),
        "BILI": ("mg/dL", 1 / 17.1, 2),
        "ALB": ("g/dL", 0.1, 1),
    },
}
AFP_UNITS = {"101": "ng/mL", "102": "ng/ml", "103": "μg/L", "104": "IU/mL"}
# Units no codelist knows, used only by the injected "unknown unit" problems.
UNKNOWN_UNITS = {
    "WBC": "/mm3",
    "HGB": "mmol/L",
    "PLT": "/mm3",
    "ALT": "μkat/L",
    "AST": "μkat/L",
    "CREAT": "mg/L",
    "BILI": "mg/L",
    "ALB": "mg/L",
}
# AE verbatims no dictionary knows, used only by the injected "unknown verbatim" problems.
UNKNOWN_VERBATIMS = {
    "en": ["Felt odd", "Funny feeling in hands", "Not himself", "Strange sensation"],
    "zh": ["不舒服", "手脚麻麻的", "说不清的难受", "身体怪怪的"],
}

SITE_IDS = {
    "101": lambda k: f"101-{k:03d}",
    "102": lambda k: f"S102{k:03d}",
    "103": lambda k: f"GZ3-{k}",
    "104": lambda k: f"104{k:04d}",
}
VISIT_LABELS = {
    "101": lambda m: f"Month {m}",
    "102": lambda m: f"术后{m}个月",
    "103": lambda m: f"术后第{m}月",
    "104": lambda m: f"MONTH {m}",
}
LESION_IDS = {"101": lambda i: f"NL{i:02d}", "102": lambda i: f"NL{i:02d}", "103": lambda i: f"{i}", "104": lambda i: f"NL-{i}"}
LANG = {"101": "en", "102": "zh", "103": "zh", "104": "en"}


@lru_cache(maxsize=1)
def verbatims() -> dict:
    """specs/terms/ae_verbatim.csv grouped as {ctcae_term: {"en": [...], "zh": [...], "en_clean": [...]}}."""
    out: dict = {}
    with (SPECS_DIR / "terms" / "ae_verbatim.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            d = out.setdefault(r["ctcae_term"], {"en": [], "zh": [], "en_clean": []})
            d[r["language"]].append(r["verbatim"])
            if r["language"] == "en" and r["verbatim"] == r["english_verbatim"]:
                d["en_clean"].append(r["verbatim"])
    return out


@lru_cache(maxsize=8)
def _date_tables(site: str):
    """Lookup tables day-number -> text for full, month-only (two variants) and year-only dates."""
    days = np.arange(DATE_BASE, DATE_END + 1)
    y, m, d = ymd(days)
    ys, ms, ds = [str(v) for v in y], [int(v) for v in m], [int(v) for v in d]
    if site == "101":
        full = [f"{a}-{b:02d}-{c:02d}" for a, b, c in zip(ys, ms, ds)]
        mon = [f"{a}-{b:02d}" for a, b in zip(ys, ms)]
        mon2, yr = mon, ys
    elif site == "102":
        full = [f"{c:02d}/{b:02d}/{a}" for a, b, c in zip(ys, ms, ds)]
        mon = [f"UN/{b:02d}/{a}" for a, b in zip(ys, ms)]
        mon2 = [f"{b:02d}/{a}" for a, b in zip(ys, ms)]
        yr = [f"UN/UN/{a}" for a in ys]
    elif site == "103":
        full = [f"{a}年{b}月{c}日" for a, b, c in zip(ys, ms, ds)]
        mon = [f"{a}年{b}月" for a, b in zip(ys, ms)]
        mon2, yr = mon, [f"{a}年" for a in ys]
    else:
        full = [f"{c:02d}-{MON[b - 1]}-{a}" for a, b, c in zip(ys, ms, ds)]
        mon = [f"UN-{MON[b - 1]}-{a}" for a, b in zip(ys, ms)]
        mon2, yr = mon, [f"UN-UNK-{a}" for a in ys]
    obj = np.array([EPOCH + dt.timedelta(days=int(x)) for x in days], dtype=object)
    return tuple(np.array(t, dtype=object) for t in (full, mon, mon2, yr)) + (obj,)


def impossible_date_text(site: str, true_day: int) -> str:
    """An impossible calendar date near ``true_day`` in the site's style (e.g. 2020-02-30, 31/04/2019)."""
    y, m, _ = (int(v[0]) for v in ymd(np.array([true_day])))
    short = [2, 4, 6, 9, 11]
    mm = min(short, key=lambda s: (abs(s - m), s))
    dd = 30 if mm == 2 else 31
    if site == "101":
        return f"{y}-{mm:02d}-{dd:02d}"
    if site == "102":
        return f"{dd:02d}/{mm:02d}/{y}"
    if site == "103":
        return f"{y}年{mm}月{dd}日"
    return f"{dd:02d}-{MON[mm - 1]}-{y}"


class SiteStyle:
    """Renders canonical values the way one site exports them.

    Takes the site id, the raw spec's codelists, the messiness calibration and the rng.
    """

    def __init__(self, site: str, codelists: dict, mcal: dict, rng: np.random.Generator):
        self.site, self.codelists, self.mcal, self.rng = site, codelists, mcal, rng
        self.xlsx = site == "103"

    # ---- identifiers ---------------------------------------------------------------
    def subjid(self, seq: np.ndarray) -> np.ndarray:
        """Site subject numbers -> subject ids in the site's pattern."""
        f = SITE_IDS[self.site]
        return np.array([f(int(k)) for k in seq], dtype=object)

    # ---- dates -----------------------------------------------------------------------
    def dates(self, days: np.ndarray, prec: np.ndarray | int = 3) -> np.ndarray:
        """Day numbers with precision (3 full, 2 month, 1 year, 0 or NA missing) -> cells."""
        days = np.asarray(days, dtype="int64")
        prec = np.broadcast_to(np.asarray(prec), days.shape)
        prec = np.where(days == NA, 0, prec)
        idx = np.clip(days - DATE_BASE, 0, DATE_END - DATE_BASE)
        full, mon, mon2, yr, obj = _date_tables(self.site)
        n = len(days)
        alt = self.rng.random(n) < 0.5
        out = np.where(
            prec == 3, full[idx], np.where(prec == 2, np.where(alt, mon2[idx], mon[idx]), np.where(prec == 1, yr[idx], ""))
        )
        out = out.astype(object)
        if self.site == "103":
            # Most full dates of site 103 are real Excel date cells, the rest typed as text.
            cell = (prec == 3) & (self.rng.random(n) < self.mcal["p_excel_date_cell_103"])
            out[cell] = obj[idx[cell]]
        if self.site == "102":
            out = self.fullwidth(out)
        return out

    # ---- numbers ---------------------------------------------------------------------
    def numbers(self, values: np.ndarray, decimals: int) -> np.ndarray:
        """Floats (NaN = missing) -> cells: text with fixed decimals (csv) or numbers (xlsx)."""
        v = np.asarray(values, dtype=float)
        miss = np.isnan(v)
        if self.xlsx:
            r = np.round(v, decimals)
            out = np.array([int(x) if decimals == 0 else float(x) for x in np.where(miss, 0, r)], dtype=object)
        else:
            fmt = f"{{:.{decimals}f}}"
            out = np.array([fmt.format(x) for x in np.where(miss, 0, v)], dtype=object)
            if self.site == "102":
                out = self.fullwidth(out)
        out[miss] = ""
        return out

    def fullwidth(self, cells: np.ndarray) -> np.ndarray:
        """Site 102: some cells typed with full-width digits (２０１９)."""
        hit = self.rng.random(len(cells)) < self.mcal["p_fullwidth_102"]
        out = cells.copy()
        for i in np.nonzero(hit)[0]:
            if isinstance(out[i], str) and out[i]:
                out[i] = out[i].translate(FULLWIDTH)
        return out

    # ---- coded values ----------------------------------------------------------------
    def _candidates(self, codelist: str, canon: str) -> tuple[list[str], np.ndarray]:
        cl = self.codelists[codelist]
        syns = [s for s, v in cl.synonyms.items() if v == canon]
        zh = [s for s in syns if CJK.search(s)]
        en = [s for s in syns if not CJK.search(s) and re.search(r"[A-Za-z]{2}", s) and s != canon]
        if self.site != "104":  # only site 104's export tool writes checkbox booleans as True/False
            en = [s for s in en if s not in ("True", "False")]
        site = self.site
        if codelist == "GRADE":
            if site == "101":
                return [canon], np.array([1.0])
            if site == "104":
                return [ROMAN[canon]], np.array([1.0])
            cn = f"{canon}级"
            return ([cn], np.array([1.0])) if site == "102" else ([cn, canon], np.array([0.7, 0.3]))
        if codelist == "IETESTCD":
            return [canon], np.array([1.0])
        if site == "101":
            cands, w = [canon] + en, [0.85] + [0.15 / max(len(en), 1)] * len(en)
        elif site in ("102", "103") and zh:
            # Mostly the first Chinese synonym, sometimes another one, rarely the canonical value.
            main = 0.7 if site == "102" else 0.8
            rest = [(0.9 - main) / (len(zh) - 1)] * (len(zh) - 1) if len(zh) > 1 else []
            cands, w = [canon] + zh, [0.1, main if rest else 0.9] + rest
        elif site == "104" and en:
            cands, w = [canon] + en, [0.3] + [0.7 / len(en)] * len(en)
        else:
            cands, w = [canon], [1.0]
        weights = np.array(w, dtype=float)
        return cands, weights / weights.sum()

    def codes(self, canon: np.ndarray, codelist: str) -> np.ndarray:
        """Canonical values of ``codelist`` (None/'' = missing) -> the site's spellings."""
        canon = np.asarray(canon, dtype=object)
        out = np.full(len(canon), "", dtype=object)
        u = self.rng.random(len(canon))
        present = np.array([isinstance(c, str) and c != "" for c in canon], dtype=bool)
        if not present.any():
            return out
        keys = canon[present].astype(str)
        uniq, inv = np.unique(keys, return_inverse=True)
        pos = np.nonzero(present)[0]
        for j, val in enumerate(uniq):
            cands, w = self._candidates(codelist, val)
            rows = pos[inv == j]
            pick = np.searchsorted(np.cumsum(w), u[rows], side="right").clip(0, len(cands) - 1)
            out[rows] = np.array(cands, dtype=object)[pick]
        return out

    def yes_no(self, flags: np.ndarray) -> np.ndarray:
        """Booleans -> NY spellings."""
        return self.codes(np.where(np.asarray(flags, dtype=bool), "Y", "N").astype(object), "NY")

    # ---- free text -------------------------------------------------------------------
    def ae_terms(self, ctcae: np.ndarray) -> np.ndarray:
        """CTCAE terms -> verbatims as this site writes them (from specs/terms/ae_verbatim.csv)."""
        vb = verbatims()
        n = len(ctcae)
        out = np.empty(n, dtype=object)
        u, v = self.rng.random(n), self.rng.random(n)
        for i, t in enumerate(ctcae):
            d = vb[t]
            if self.site == "101":  # clean English, mostly the plain form
                pool = d["en_clean"][:1] if u[i] < 0.7 else d["en_clean"]
            elif self.site == "104":  # any English spelling, synonyms and typos included
                pool = d["en"]
            elif self.site == "102":  # Chinese, sometimes English
                pool = d["zh"] if u[i] < 0.9 else d["en_clean"]
            else:
                pool = d["zh"]
            out[i] = pool[int(v[i] * len(pool))]
        return out

    def trailing_spaces(self, cells: np.ndarray) -> np.ndarray:
        """Append a trailing space to a few non-empty text cells."""
        hit = self.rng.random(len(cells)) < self.mcal["p_trailing_space"]
        out = cells.copy()
        for i in np.nonzero(hit)[0]:
            if isinstance(out[i], str) and out[i]:
                out[i] = out[i] + " "
        return out
