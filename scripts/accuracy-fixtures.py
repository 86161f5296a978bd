#!/usr/bin/env python3
"""Writes test/fixtures/accuracy.json: expected online-accuracy metrics for seeded cases.

test/accuracy-metrics.test.ts checks engine/monitoring/accuracy.ts against these values. They are
computed here independently, with numpy and scipy only (no sklearn):

- ROC AUC: scipy.stats.mannwhitneyu's U of the positives' scores against the negatives' (ties
  share their average rank, so a tie counts one half) over n1*n0, cross-checked with a rankdata
  sum; None when a class is absent.
- log loss: mean -[y ln p + (1 - y) ln(1 - p)], p clipped to [1e-15, 1 - 1e-15] (sklearn's old eps).
- precision / recall: predicted positive when score >= threshold; None for 0/0.
- calibration: bin edges b/bins, a score in [edge_b, edge_b+1) (searchsorted), 1.0 in the last bin;
  per bin n, mean score, positive rate (None when empty); ECE = sum n_b/N |rate_b - mean_b|.

NaN is written as null (JSON has no NaN). Floats are written with repr, so every score is read back
as the same double. Run: python3 scripts/accuracy-fixtures.py
"""

import json
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu, rankdata

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "accuracy.json"


def auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    u = mannwhitneyu(pos, neg, alternative="two-sided", method="asymptotic").statistic
    # The same U from ranks: R1 - n1 (n1 + 1) / 2.
    ranks = rankdata(s)
    u_ranks = ranks[y == 1].sum() - len(pos) * (len(pos) + 1) / 2
    assert u == u_ranks, (u, u_ranks)
    return float(u) / (len(pos) * len(neg))


def log_loss(y, s):
    if len(y) == 0:
        return None
    p = np.clip(s, 1e-15, 1 - 1e-15)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def confusion(y, s, threshold):
    predicted = s >= threshold
    tp = int(np.sum(predicted & (y == 1)))
    fp = int(np.sum(predicted & (y == 0)))
    fn = int(np.sum(~predicted & (y == 1)))
    tn = int(np.sum(~predicted & (y == 0)))
    return {
        "precision": tp / (tp + fp) if tp + fp > 0 else None,
        "recall": tp / (tp + fn) if tp + fn > 0 else None,
        "truePositives": tp,
        "falsePositives": fp,
        "falseNegatives": fn,
        "trueNegatives": tn,
    }


def calibration(y, s, bins):
    edges = np.arange(bins + 1) / bins
    index = np.minimum(np.searchsorted(edges, s, side="right") - 1, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        mean_score = float(s[inside].mean()) if n else None
        positive_rate = float(y[inside].mean()) if n else None
        rows.append({"lower": float(edges[b]), "upper": float(edges[b + 1]), "n": n, "meanScore": mean_score, "positiveRate": positive_rate})
        if n:
            ece += n / len(s) * abs(positive_rate - mean_score)
    return {"bins": rows, "ece": ece if len(s) else None}


def case(name, labels, scores, threshold=0.5, bins=10):
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    assert y.shape == s.shape and np.all((y == 0) | (y == 1)) and np.all((s >= 0) & (s <= 1))
    return {
        "name": name,
        "threshold": threshold,
        "bins": bins,
        "labels": [int(v) for v in y],
        "scores": [float(v) for v in s],
        "expected": {
            "auc": auc(y, s),
            "logLoss": log_loss(y, s),
            **confusion(y, s, threshold),
            "calibration": calibration(y, s, bins),
        },
    }


def informative(rng, n, strength=4.0):
    """Labels drawn from the scores, so AUC is well above one half and calibration is imperfect."""
    s = rng.random(n)
    y = (rng.random(n) < 1 / (1 + np.exp(-strength * (s - 0.5)))).astype(int)
    return y, s


def cases():
    rng = np.random.default_rng(20240514)
    out = []
    y, s = informative(rng, 400)
    out.append(case("random", y, s))
    y, s = informative(rng, 1000, strength=8.0)
    out.append(case("random, threshold 0.3, 20 bins", y, s, threshold=0.3, bins=20))
    y, s = informative(rng, 300)
    out.append(case("ties: scores rounded to one decimal", y, np.round(s, 1)))
    y, s = informative(rng, 200)
    out.append(case("heavy ties: three distinct scores", y, np.choose(rng.integers(0, 3, 200), [0.2, 0.5, 0.8])))
    out.append(case("all positive", np.ones(50, dtype=int), rng.random(50)))
    out.append(case("all negative", np.zeros(50, dtype=int), rng.random(50)))
    s = rng.random(60)
    out.append(case("perfect", (s >= 0.5).astype(int), s))
    out.append(case("inverted", (s < 0.5).astype(int), s))
    out.append(case("every score equal", rng.integers(0, 2, 40), np.full(40, 0.5)))
    s = np.array([0.5, 0.5, 0.5, 0.5, np.nextafter(0.5, 0), np.nextafter(0.5, 1), 0.25, 0.75])
    out.append(case("scores exactly at the threshold", [1, 0, 1, 0, 1, 0, 0, 1], s))
    s = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    out.append(case("scores at 0 and 1, some confidently wrong (clipped)", [0, 1, 1, 0, 0, 1, 0, 1], s))
    edges = np.arange(11) / 10
    s = np.concatenate([edges, np.nextafter(edges[1:], 0), np.nextafter(edges[:-1], 1)])
    out.append(case("scores at and beside every bin edge", rng.integers(0, 2, len(s)), s))
    edges = np.arange(8) / 7
    s = np.concatenate([edges, np.nextafter(edges[1:], 0), rng.random(30)])
    out.append(case("7 bins, edges not exact in binary", rng.integers(0, 2, len(s)), s, threshold=3 / 7, bins=7))
    out.append(case("nothing predicted positive", [0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.5], threshold=0.9))
    out.append(case("one event", [1], [0.7]))
    out.append(case("no events", [], []))
    return out


def main():
    OUT.parent.mkdir(parents=True, exist_ok=True)
    all_cases = cases()
    # One case a line, so a regenerated file diffs case by case.
    lines = ",\n".join(json.dumps(c, allow_nan=False) for c in all_cases)
    OUT.write_text(f'{{"generator": "scripts/accuracy-fixtures.py", "cases": [\n{lines}\n]}}\n')
    print(f"wrote {OUT} ({len(all_cases)} cases)")


if __name__ == "__main__":
    main()
