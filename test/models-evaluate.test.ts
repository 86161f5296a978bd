import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auc, featureMatrix, holdoutSplit, logloss } from '../models/training/index.ts';

describe('auc', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one, 0.5 when every score ties', () => {
    assert.equal(auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]), 1);
    assert.equal(auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]), 0);
    assert.equal(auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]), 0.5);
  });

  it('counts a tie between a positive and a negative as one half (average ranks)', () => {
    // Pairs (pos, neg): (0.4 vs 0.1) win, (0.4 vs 0.4) tie, (0.9 vs 0.1) win, (0.9 vs 0.4) win → 3.5 / 4.
    assert.equal(auc([0, 1, 0, 1], [0.1, 0.4, 0.4, 0.9]), 3.5 / 4);
  });

  it('equals the pairwise definition on random scores with many ties', () => {
    const labels: number[] = [];
    const scores: number[] = [];
    for (let i = 0; i < 300; i++) {
      labels.push((i * 7919) % 3 === 0 ? 1 : 0);
      scores.push(((i * 104729) % 17) / 17);
    }
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < labels.length; i++) {
      for (let j = 0; j < labels.length; j++) {
        if (labels[i] !== 1 || labels[j] !== 0) continue;
        pairs++;
        wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
    assert.ok(Math.abs(auc(labels, scores) - wins / pairs) < 1e-12);
  });

  it('is NaN when a class is absent', () => {
    assert.ok(Number.isNaN(auc([1, 1], [0.2, 0.3])));
    assert.ok(Number.isNaN(auc([], [])));
  });
});

describe('logloss', () => {
  it('is the mean negative log-likelihood, finite for confident mistakes', () => {
    assert.ok(Math.abs(logloss([1, 0], [0.8, 0.4]) - -(Math.log(0.8) + Math.log(0.6)) / 2) < 1e-12);
    assert.ok(Number.isFinite(logloss([1], [0])));
    assert.ok(logloss([1], [0]) > 30);
  });

  it('refuses labels and scores of different lengths', () => {
    assert.throws(() => logloss([1, 0], [0.5]), /2 labels but 1 scores/);
  });
});

describe('holdoutSplit', () => {
  it('holds out the last 20 % by row order', () => {
    const rows = 10;
    const values = Float64Array.from({ length: rows * 2 }, (_, i) => i);
    const data = { matrix: featureMatrix(['a', 'b'], rows, values), labels: Uint8Array.from({ length: rows }, (_, i) => i % 2) };
    const { train, heldOut } = holdoutSplit(data);
    assert.equal(train.matrix.rows, 8);
    assert.equal(heldOut.matrix.rows, 2);
    assert.deepEqual([...heldOut.matrix.values], [16, 17, 18, 19]);
    assert.deepEqual([...heldOut.labels], [0, 1]);
  });

  it('refuses a table too small to split', () => {
    const data = { matrix: featureMatrix(['a'], 1, new Float64Array([1])), labels: new Uint8Array([1]) };
    assert.throws(() => holdoutSplit(data), { code: 'RTML_E_TRAIN' });
  });
});
