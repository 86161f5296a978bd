#!/usr/bin/env python3
"""Writes test/fixtures/drift.json: expected drift statistics for seeded samples.

test/drift-stats.test.ts checks engine/monitoring/stats.ts against these values. They are computed
here independently, with numpy and scipy:

- bin edges: numpy.quantile (default 'linear') at 1/bins ... (bins-1)/bins, numpy.unique; bin
  counts by numpy.searchsorted(edges, x, 'right') (the number of edges <= x), cross-checked
  against a direct comparison;
- PSI: written out from its definition, sum (a - e) ln(a / e) over count shares, a zero share
  set to 1e-4 and no renormalisation (Evidently's fill);
- Jensen-Shannon distance: scipy.spatial.distance.jensenshannon(p, q, base=2);
- KS: scipy.stats.ks_2samp(...).statistic; p-value scipy.stats.kstwobign.sf((en + 0.12 +
  0.11/en) D), en = sqrt(n m / (n + m)) (Stephens' correction, Numerical Recipes' probks);
- Wasserstein: scipy.stats.wasserstein_distance; normed: divided by max(numpy.std(reference), 0.001);
- chi-square: scipy.stats.chisquare(observed, f_exp) with f_exp = shares x n, a zero share set to
  1e-4 and the shares renormalised; its p-value is also checked against scipy.stats.chi2.sf;
- survival functions on grids: scipy.stats.kstwobign.sf and scipy.stats.chi2.sf;
- quantile sketch: the values at ranks floor((2i + 1) n / (2k)), with integer arithmetic.

Samples are drawn with numpy's seeded generator and rounded to 3 decimals (so that the JSON stays
small; the rounding also makes realistic ties), then sorted. Floats are written with repr, so each
is read back as the same double. Run: python3 scripts/drift-fixtures.py
"""

import json
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "drift.json"
EMPTY_SHARE = 1e-4
MIN_STD = 0.001
SKETCH_POINTS = 1000


def samples():
    rng = np.random.default_rng(20240614)
    r3 = lambda x: np.round(x, 3)
    s = {
        "norm_5000": r3(rng.normal(0, 1, 5000)),
        "norm_1000": r3(rng.normal(0, 1, 1000)),
        "norm_shift0.1_500": r3(rng.normal(0.1, 1, 500)),
        "norm_shift0.5_200": r3(rng.normal(0.5, 1, 200)),
        "norm_shift1_800": r3(rng.normal(1, 1, 800)),
        "norm_scale2_300": r3(rng.normal(0, 2, 300)),
        "norm_shift3_2000": r3(rng.normal(3, 1, 2000)),
        "norm_50": r3(rng.normal(0, 1, 50)),
        "norm_50b": r3(rng.normal(0, 1, 50)),
        "norm_shift1_30": r3(rng.normal(1, 1, 30)),
        "unif_10": r3(rng.uniform(0, 1, 10)),
        "unif_10b": r3(rng.uniform(0, 1, 10)),
        "unif_shift0.5_10": r3(rng.uniform(0.5, 1.5, 10)),
        "unif_1000": r3(rng.uniform(0, 1, 1000)),
        "unif_low_100": r3(rng.uniform(0, 0.2, 100)),
        "exp_200": r3(rng.exponential(1, 200)),
        "exp_scale1.3_200": r3(rng.exponential(1.3, 200)),
        "poisson3_1000": rng.poisson(3, 1000).astype(float),
        "poisson3_1000b": rng.poisson(3, 1000).astype(float),
        "poisson3.5_400": rng.poisson(3.5, 400).astype(float),
        "levels123_300": rng.choice([1.0, 2.0, 3.0], 300),
        "levels01234_200": rng.choice([0.0, 1.0, 2.0, 3.0, 4.0], 200),
        "const5_100": np.full(100, 5.0),
        "const5_40": np.full(40, 5.0),
        "const6_20": np.full(20, 6.0),
        "around5_60": r3(rng.normal(5, 1, 60)),
        "one": np.array([0.5]),
        "three": np.array([0.1, 0.5, 0.9]),
        "ties_a": np.array([1.0, 1, 2, 2, 2, 3]),
        "ties_b": np.array([1.0, 2, 2, 3, 3, 3, 3]),
    }
    return {name: np.sort(values) for name, values in s.items()}


def sketch(sorted_values, points):
    n = len(sorted_values)
    if n <= points:
        return sorted_values.copy()
    return sorted_values[[(2 * i + 1) * n // (2 * points) for i in range(points)]]


def edges_of(reference, bins):
    return np.unique(np.quantile(reference, np.arange(1, bins) / bins))


def counts_of(values, edges):
    index = np.searchsorted(edges, values, side="right")
    assert all(index[i] == np.sum(edges <= values[i]) for i in range(len(values)))
    return np.bincount(index, minlength=len(edges) + 1)


def psi_of(reference_counts, current_counts):
    e = reference_counts / reference_counts.sum()
    a = current_counts / current_counts.sum()
    e = np.where(e == 0, EMPTY_SHARE, e)
    a = np.where(a == 0, EMPTY_SHARE, a)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_of(reference, current, n=None, m=None):
    d = stats.ks_2samp(reference, current).statistic
    n = len(reference) if n is None else n
    m = len(current) if m is None else m
    en = np.sqrt(n * m / (n + m))
    return float(d), float(stats.kstwobign.sf((en + 0.12 + 0.11 / en) * d))


def numeric_case(name, s, reference_name, current_name, bins=10, reference_size=None):
    full = s[reference_name]
    reference = full if reference_size is None else sketch(full, SKETCH_POINTS)
    current = s[current_name]
    edges = edges_of(reference, bins)
    rc, cc = counts_of(reference, edges), counts_of(current, edges)
    d, p = ks_of(reference, current, n=reference_size)
    w = float(stats.wasserstein_distance(reference, current))
    std = float(np.std(full))
    case = {
        "name": name,
        "reference": reference_name,
        "current": current_name,
        "bins": bins,
        "referenceStd": std,
        "edges": edges.tolist(),
        "referenceCounts": rc.tolist(),
        "currentCounts": cc.tolist(),
        "psi": psi_of(rc, cc),
        "jensenShannon": float(jensenshannon(rc, cc, base=2)),
        "ks": {"statistic": d, "pValue": p},
        "wasserstein": w,
        "normedWasserstein": w / max(std, MIN_STD),
    }
    if reference_size is not None:
        case["sketchOf"] = reference_size
    return case


def numeric_cases(s):
    return [
        numeric_case("normal, no drift, 5000 vs 1000", s, "norm_5000", "norm_1000"),
        numeric_case("normal, small shift", s, "norm_5000", "norm_shift0.1_500"),
        numeric_case("normal, shift 0.5, 20 bins", s, "norm_5000", "norm_shift0.5_200", bins=20),
        numeric_case("normal, shift 1: p about 1e-92", s, "norm_5000", "norm_shift1_800"),
        numeric_case("normal, scaled x2", s, "norm_5000", "norm_scale2_300"),
        numeric_case("normal, shift 3: p underflows to 0", s, "norm_5000", "norm_shift3_2000"),
        numeric_case("sketch of 5000 against 1000, no drift", s, "norm_5000", "norm_1000", reference_size=5000),
        numeric_case("sketch of 5000 against a small shift", s, "norm_5000", "norm_shift0.1_500", reference_size=5000),
        numeric_case("small normal, no drift", s, "norm_50", "norm_50b"),
        numeric_case("small normal, shift 1", s, "norm_50", "norm_shift1_30"),
        numeric_case("uniform 10 vs 10", s, "unif_10", "unif_10b"),
        numeric_case("uniform 10 vs 10 shifted", s, "unif_10", "unif_shift0.5_10"),
        numeric_case("current empty in the upper bins", s, "unif_1000", "unif_low_100"),
        numeric_case("exponential, scale 1.3, 5 bins", s, "exp_200", "exp_scale1.3_200", bins=5),
        numeric_case("poisson ties, no drift", s, "poisson3_1000", "poisson3_1000b"),
        numeric_case("poisson ties, rate 3.5", s, "poisson3_1000", "poisson3.5_400"),
        numeric_case("reference empty below its least value", s, "levels123_300", "levels01234_200"),
        numeric_case("constant, unchanged", s, "const5_100", "const5_40"),
        numeric_case("constant reference, current spread around it", s, "const5_100", "around5_60"),
        numeric_case("constant reference, current another constant above", s, "const5_100", "const6_20"),
        numeric_case("one value against three", s, "one", "three"),
        numeric_case("ties across samples", s, "ties_a", "ties_b"),
    ]


def categorical_case(name, reference_counts, current_counts):
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    shares = ref / ref.sum()
    shares = np.where(shares == 0, EMPTY_SHARE, shares)
    shares = shares / shares.sum()
    result = stats.chisquare(cur, shares * cur.sum())
    dof = len(cur) - 1
    assert np.isclose(result.pvalue, stats.chi2.sf(result.statistic, dof), rtol=1e-12, atol=0)
    return {
        "name": name,
        "referenceCounts": ref.tolist(),
        "currentCounts": cur.tolist(),
        "chiSquare": {"statistic": float(result.statistic), "pValue": float(result.pvalue), "dof": dof},
        "psi": psi_of(ref, cur),
        "jensenShannon": float(jensenshannon(ref, cur, base=2)),
    }


def categorical_cases():
    rng = np.random.default_rng(7)
    base = [0.5, 0.3, 0.15, 0.05]
    many = rng.dirichlet(np.ones(50))
    return [
        categorical_case("same shares", rng.multinomial(5000, base), rng.multinomial(500, base)),
        categorical_case("shifted shares", rng.multinomial(5000, base), rng.multinomial(500, [0.4, 0.3, 0.2, 0.1])),
        categorical_case("a new category", rng.multinomial(5000, [0.6, 0.3, 0.1, 0]), rng.multinomial(400, [0.55, 0.3, 0.1, 0.05])),
        categorical_case("a missing category", rng.multinomial(3000, [0.5, 0.3, 0.2]), rng.multinomial(300, [0.6, 0.4, 0])),
        categorical_case("one occurrence of a new value in 5000", [3000, 2000, 0], list(rng.multinomial(4999, [0.6, 0.4])) + [1]),
        categorical_case("new and missing", rng.multinomial(2000, [0.5, 0.3, 0.2, 0]), rng.multinomial(1000, [0.5, 0.4, 0, 0.1])),
        categorical_case("fifty categories", rng.multinomial(20000, many), rng.multinomial(2000, rng.dirichlet(many * 400))),
        categorical_case("small counts", [3, 2, 1], [1, 0, 2]),
        categorical_case("binary, same", [900, 100], [88, 12]),
        categorical_case("p about 1e-219", [5000, 5000], [6581, 3419]),
        categorical_case("p underflows to 0", [500000, 500000], [90000, 10000]),
    ]


def kolmogorov_grid():
    xs = [0, 1e-3, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0, 1.1, 1.17, 1.18, 1.19, 1.3, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 15, 19, 20, 26, 30]
    return [[x, float(stats.kstwobign.sf(x))] for x in xs]


def chi_square_grid():
    rows = []
    for dof in [0.5, 1, 2, 2.5, 3, 4, 5, 9, 10, 29, 30, 99, 100, 499, 1000]:
        for x in sorted({1e-3, 0.1, 0.5, 1, dof / 2, max(dof - 1, 0.2), dof, dof + 1, 1.5 * dof, 2 * dof, 4 * dof, dof + 100, dof + 1000, dof + 2000}):
            rows.append([x, dof, float(stats.chi2.sf(x, dof))])
    return rows


def main():
    s = samples()
    doc = {
        "generator": "scripts/drift-fixtures.py",
        "sketch": {"of": "norm_5000", "points": SKETCH_POINTS, "values": sketch(s["norm_5000"], SKETCH_POINTS).tolist()},
        "numeric": numeric_cases(s),
        "categorical": categorical_cases(),
        "kolmogorovSf": kolmogorov_grid(),
        "chiSquareSf": chi_square_grid(),
    }
    sample_lines = ",\n".join(f"  {json.dumps(name)}: {json.dumps(values.tolist(), allow_nan=False)}" for name, values in s.items())
    parts = [f'  {json.dumps(key)}: {json.dumps(value, allow_nan=False)}' for key, value in doc.items() if key not in ("numeric", "categorical")]
    for key in ("numeric", "categorical"):
        rows = ",\n".join(f"   {json.dumps(c, allow_nan=False)}" for c in doc[key])
        parts.append(f'  {json.dumps(key)}: [\n{rows}\n  ]')
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("{\n" + ",\n".join(parts) + ',\n  "samples": {\n' + sample_lines + "\n  }\n}\n")
    print(f"wrote {OUT} ({len(doc['numeric'])} numeric cases, {len(doc['categorical'])} categorical, {OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
