/**
 * Metrics of a binary classifier's scores against 0/1 labels.
 *
 * - `auc`: area under the ROC curve, exact: the Mann–Whitney statistic over ranks, tied scores
 *   sharing their average rank (so a tie counts one half). NaN when a class is absent.
 * - `logloss`: mean −[y log p + (1 − y) log(1 − p)], p clamped to [1e-15, 1 − 1e-15] so one
 *   confident mistake costs a large, finite amount.
 */

export function auc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = checkLengths(labels, scores);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let positiveRankSum = 0;
  for (let i = 0; i < n; ) {
    // Rows i..j-1 share a score: each gets the average of ranks i+1..j.
    let j = i + 1;
    while (j < n && scores[order[j]!] === scores[order[i]!]) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (labels[order[k]!] === 1) {
        positives++;
        positiveRankSum += rank;
      }
    }
    i = j;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function logloss(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  const n = checkLengths(labels, probabilities);
  if (n === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(Math.max(probabilities[i]!, 1e-15), 1 - 1e-15);
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / n;
}

function checkLengths(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  if (labels.length !== scores.length) throw new RangeError(`${labels.length} labels but ${scores.length} scores`);
  return labels.length;
}
