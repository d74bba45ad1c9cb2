"""Baseline cohort: sites, arms, dates around hepatectomy, demographics, disease and labs.

Every array is drawn from the one ``numpy.random.Generator`` passed in, in a fixed order,
so the cohort is a pure function of (n, seed, calibration).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth._util import (
    DAYS_PER_MONTH,
    NA,
    categorical,
    day,
    truncnorm,
    uniform_int,
    ymd,
)

# (hanzi, pinyin, weight): common surnames in Guangdong; all characters are GBK-encodable.
SURNAMES = [
    ("陈", "Chen", 10),
    ("李", "Li", 8),
    ("黄", "Huang", 8),
    ("张", "Zhang", 6),
    ("梁", "Liang", 5),
    ("林", "Lin", 5),
    ("刘", "Liu", 5),
    ("吴", "Wu", 4),
    ("罗", "Luo", 4),
    ("杨", "Yang", 3),
    ("王", "Wang", 3),
    ("何", "He", 3),
    ("郑", "Zheng", 3),
    ("谢", "Xie", 2),
    ("周", "Zhou", 2),
    ("冯", "Feng", 2),
    ("邓", "Deng", 2),
    ("曾", "Zeng", 2),
    ("蔡", "Cai", 2),
    ("钟", "Zhong", 2),
    ("潘", "Pan", 1),
    ("彭", "Peng", 1),
    ("郭", "Guo", 1),
    ("朱", "Zhu", 1),
    ("胡", "Hu", 1),
]
GIVEN_M = [
    ("伟", "wei"),
    ("强", "qiang"),
    ("军", "jun"),
    ("明", "ming"),
    ("华", "hua"),
    ("建", "jian"),
    ("国", "guo"),
    ("志", "zhi"),
    ("勇", "yong"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("斌", "bin"),
    ("辉", "hui"),
    ("鹏", "peng"),
    ("海", "hai"),
    ("文", "wen"),
    ("东", "dong"),
    ("平", "ping"),
    ("荣", "rong"),
    ("德", "de"),
    ("锦", "jin"),
    ("耀", "yao"),
]
GIVEN_F = [
    ("丽", "li"),
    ("芳", "fang"),
    ("敏", "min"),
    ("静", "jing"),
    ("燕", "yan"),
    ("红", "hong"),
    ("霞", "xia"),
    ("玲", "ling"),
    ("娟", "juan"),
    ("英", "ying"),
    ("秀", "xiu"),
    ("梅", "mei"),
    ("兰", "lan"),
    ("萍", "ping"),
    ("珍", "zhen"),
    ("慧", "hui"),
]

LAB_TESTS = ["WBC", "HGB", "PLT", "ALT", "AST", "CREAT", "BILI", "ALB"]


def _names(rng: np.random.Generator, male: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw Chinese names; return (hanzi name, pinyin name, initials) object arrays."""
    n = len(male)
    sw = np.array([w for *_, w in SURNAMES], dtype=float)
    si = np.searchsorted(np.cumsum(sw / sw.sum()), rng.random(n), side="right").clip(0, len(SURNAMES) - 1)
    two = rng.random(n) < 0.6
    g1 = rng.random(n)
    g2 = rng.random(n)
    han, pin, ini = [], [], []
    for i in range(n):
        pool = GIVEN_M if male[i] else GIVEN_F
        a = pool[int(g1[i] * len(pool))]
        parts = [a]
        if two[i]:
            parts.append(pool[int(g2[i] * len(pool))])
        sh, sp, _ = SURNAMES[si[i]]
        han.append(sh + "".join(p[0] for p in parts))
        given = "".join(p[1] for p in parts)
        pin.append(f"{sp} {given.capitalize()}")
        ini.append(sp[0] + "".join(p[1][0] for p in parts).upper())
    return np.array(han, dtype=object), np.array(pin, dtype=object), np.array(ini, dtype=object)


def _calendar_age(birth: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Completed years between two day-number arrays."""
    by, bm, bd = ymd(birth)
    ay, am, ad = ymd(at)
    return ay - by - ((am < bm) | ((am == bm) & (ad < bd))).astype(int)


def _lognorm(rng, median, sdlog, lo, hi, n):
    """Lognormal truncated to [lo, hi]."""
    return np.exp(truncnorm(rng, np.log(median), sdlog, np.log(lo), np.log(hi), n))


def build_cohort(n: int, rng: np.random.Generator, cal: dict) -> pd.DataFrame:
    """Draw ``n`` enrolled subjects.

    Returns one row per subject in enrolment order with: siteid, site_seq (1-based number
    within the site), arm (SORAFENIB/CONTROL), sex, age, day numbers (surg, consent, enrol,
    trt_start [sorafenib arm, else NA], lbdat, birth), names, disease characteristics and
    baseline labs in SI units (columns lab_<TEST>).
    """
    st, bl, lab = cal["study"], cal["baseline"], cal["labs"]
    sites = categorical(rng, st["site_weights"], n)
    start = day(st["enrolment_start"])
    span = round(st["enrolment_months"] * DAYS_PER_MONTH) - 40  # last surgery leaves room to enrol
    surg = start + np.floor(rng.random(n) * span).astype("int64")
    lo, hi = st["consent_after_surgery_days"]
    consent = surg + uniform_int(rng, lo, hi, n)
    enrol = consent + uniform_int(rng, 0, 2, n)
    arm = np.where(rng.random(n) < st["p_sorafenib"], "SORAFENIB", "CONTROL").astype(object)
    # Sorafenib starts 0-4 days after enrolment, never later than day 28 after hepatectomy.
    trt = np.minimum(enrol + uniform_int(rng, 0, 4, n), surg + st["treatment_start_max_days"])
    trt = np.where(arm == "SORAFENIB", trt, NA)
    lbdat = np.maximum(consent - uniform_int(rng, 0, 5, n), surg + 3)

    male = rng.random(n) < bl["p_male"]
    a_lo, a_hi = bl["age_range"]
    age_c = truncnorm(rng, bl["age_mean"], bl["age_sd"], a_lo + 0.01, a_hi + 0.98, n)
    birth = consent - np.round(age_c * 365.25).astype("int64")
    age = _calendar_age(birth, consent)
    # Rounding at the range edges can give 17 or 76: move the birthday inside the range.
    birth = np.where(age > a_hi, birth + 366, np.where(age < a_lo, birth - 366, birth))
    age = _calendar_age(birth, consent)
    han, pin, ini = _names(rng, male)

    hbsag = rng.random(n) < bl["p_hbsag"]
    antihcv = rng.random(n) < bl["p_antihcv"]
    cirrh = rng.random(n) < bl["p_cirrhosis"]
    afp_norm = rng.random(n) < bl["p_afp_normal"]
    afp = np.where(
        afp_norm,
        1.5 + rng.random(n) * 18.0,
        np.exp(np.log(bl["afp_high_median_ngml"]) + bl["afp_high_sdlog"] * rng.standard_normal(n)),
    )
    afp = np.clip(afp, 1.0, 120000.0)
    tumsz = np.clip(np.exp(np.log(bl["tumour_size_median_cm"]) + bl["tumour_size_sdlog"] * rng.standard_normal(n)), 1.0, 18.0)
    tumsz = np.round(tumsz, 1)
    tumnum = categorical(rng, bl["tumour_number_probs"], n).astype(int)
    bclc = np.where((tumnum >= 2) & (tumsz > 2.0), "B", "A").astype(object)
    # AJCC 7th: solitary with vascular invasion = T2; multiple, none > 5 cm = T2; multiple, any > 5 cm = T3a.
    tnmt = np.where((tumnum >= 2) & (tumsz > 5.0), "T3a", "T2").astype(object)
    edm = categorical(rng, bl["edmondson_probs"], n)
    ecog = np.where(rng.random(n) < bl["p_ecog0"], 0, 1)
    cp = np.where(rng.random(n) < bl["p_childpugh5"], 5, 6)
    anat = rng.random(n) < bl["p_anatomical"]

    df = pd.DataFrame(
        {
            "siteid": sites,
            "arm": arm,
            "sex": np.where(male, "M", "F").astype(object),
            "age": age,
            "surg": surg,
            "consent": consent,
            "enrol": enrol,
            "trt_start": trt,
            "lbdat": lbdat,
            "birth": birth,
            "name_han": han,
            "name_pinyin": pin,
            "initials": ini,
            "hbsag": hbsag,
            "antihcv": antihcv,
            "cirrhosis": cirrh,
            "afp": np.round(afp, 1),
            "tumsz": tumsz,
            "tumnum": tumnum,
            "bclc": bclc,
            "tnmt": tnmt,
            "edmgrd": edm,
            "ecog": ecog,
            "childpugh": cp,
            "anatomical": anat,
        }
    )

    # Baseline labs (SI units); eligibility (IN08) bounds every draw.
    w = lab["WBC"]
    df["lab_WBC"] = np.round(_lognorm(rng, w["median"], w["sdlog"], w["low"], w["high"], n), 1)
    h = lab["HGB"]
    df["lab_HGB"] = np.round(truncnorm(rng, np.where(male, h["mean_m"], h["mean_f"]), h["sd"], h["low"], h["high"], n))
    p = lab["PLT"]
    df["lab_PLT"] = np.round(
        _lognorm(rng, np.where(cirrh, p["median_cirrhosis"], p["median"]), p["sdlog"], p["low"], p["high"], n)
    )
    a = lab["ALT"]
    df["lab_ALT"] = np.round(_lognorm(rng, a["median"], a["sdlog"], a["low"], a["high"], n))
    a = lab["AST"]
    df["lab_AST"] = np.round(_lognorm(rng, a["median"], a["sdlog"], a["low"], a["high"], n))
    c = lab["CREAT"]
    df["lab_CREAT"] = np.round(truncnorm(rng, np.where(male, c["mean_m"], c["mean_f"]), c["sd"], c["low"], c["high"], n))
    b = lab["BILI"]
    df["lab_BILI"] = np.round(_lognorm(rng, b["median"], b["sdlog"], b["low"], b["high"], n), 1)
    al = lab["ALB"]
    alb5 = truncnorm(rng, al["cp5_mean"], al["cp5_sd"], al["cp5_low"], al["high"], n)
    alb6 = al["cp6_low"] + rng.random(n) * (al["cp6_high"] - al["cp6_low"])
    df["lab_ALB"] = np.round(np.where(cp == 5, alb5, alb6), 1)

    # Subject numbers follow enrolment order within each site.
    df = df.sort_values(["enrol", "surg"], kind="stable").reset_index(drop=True)
    df["site_seq"] = df.groupby("siteid", sort=False).cumcount() + 1
    return df
