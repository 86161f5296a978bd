import { defineAggregate, type Aggregate, type Field } from '../aggregates.ts';
import { RtmlError } from '../errors.ts';

/**
 * Online accuracy of a binary classifier: metrics of its scores (probabilities in [0, 1]) against
 * 0/1 labels, as pure functions over parallel arrays and as the window aggregate `accuracy()`.
 * Each function throws when the arrays differ in length, a label is not 0 or 1, or a score is not a
 * finite number in [0, 1]. A metric that is undefined for the input (0/0) is NaN, never a guess.
 */

/**
 * ROC AUC: the probability that a random positive scores above a random negative, a tie counting
 * one half (the Mann–Whitney U of the positives over n1·n0). NaN when either class is absent.
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = checkedLength('rocAuc', labels, scores);
  const { positives, negatives } = byClass(labels, scores, n);
  if (positives.length === 0 || negatives.length === 0) return Number.NaN;
  positives.sort();
  negatives.sort();
  // For each positive in ascending order: negatives strictly below it, and those tied with it.
  let u = 0;
  let below = 0;
  let upTo = 0;
  for (const p of positives) {
    while (below < negatives.length && negatives[below]! < p) below++;
    if (upTo < below) upTo = below;
    while (upTo < negatives.length && negatives[upTo] === p) upTo++;
    u += below + (upTo - below) / 2;
  }
  return u / (positives.length * negatives.length);
}

/** The scores of the positives and of the negatives, as typed arrays (which sort numerically). */
function byClass(labels: ArrayLike<number>, scores: ArrayLike<number>, n: number): { positives: Float64Array; negatives: Float64Array } {
  let count = 0;
  for (let i = 0; i < n; i++) count += labels[i]!;
  const positives = new Float64Array(count);
  const negatives = new Float64Array(n - count);
  let p = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === 1) positives[p++] = scores[i]!;
    else negatives[q++] = scores[i]!;
  }
  return { positives, negatives };
}

/** The bounds log loss clips a probability to (sklearn's long-standing eps), so one confident mistake costs ~34.5, not ∞. */
const CLIP = 1e-15;

/** Mean of −[y ln p + (1 − y) ln(1 − p)], p clipped to [1e-15, 1 − 1e-15]. NaN for no events. */
export function logLoss(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = checkedLength('logLoss', labels, scores);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(Math.max(scores[i]!, CLIP), 1 - CLIP);
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / n;
}

export interface PrecisionRecall {
  /** truePositives / (truePositives + falsePositives); NaN when nothing is predicted positive. */
  precision: number;
  /** truePositives / (truePositives + falseNegatives); NaN when there are no positives. */
  recall: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  trueNegatives: number;
}

/**
 * Precision and recall at a decision threshold: an event is predicted positive when
 * `score >= threshold`, the rule of `score()`'s label.
 */
export function precisionRecall(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): PrecisionRecall {
  const n = checkedLength('precisionRecall', labels, scores);
  if (!Number.isFinite(threshold)) throw new RtmlError('RTML_E_AGGREGATE', `precisionRecall(): threshold must be a finite number, got ${threshold}`);
  let truePositives = 0;
  let falsePositives = 0;
  let positives = 0;
  for (let i = 0; i < n; i++) {
    const positive = labels[i] === 1;
    if (positive) positives++;
    if (scores[i]! >= threshold) {
      if (positive) truePositives++;
      else falsePositives++;
    }
  }
  const falseNegatives = positives - truePositives;
  return {
    precision: truePositives / (truePositives + falsePositives),
    recall: truePositives / positives,
    truePositives,
    falsePositives,
    falseNegatives,
    trueNegatives: n - positives - falsePositives,
  };
}

export interface CalibrationBin {
  /** The bin holds the scores in [lower, upper); the last bin also holds 1. */
  lower: number;
  upper: number;
  n: number;
  /** Mean score of the bin's events; NaN for an empty bin. */
  meanScore: number;
  /** Fraction of the bin's events that are positive; NaN for an empty bin. */
  positiveRate: number;
}

export interface Calibration {
  bins: CalibrationBin[];
  /** Expected calibration error: Σ (n_b / N)·|positiveRate_b − meanScore_b| over non-empty bins; NaN for no events. */
  ece: number;
}

/**
 * Reliability of the scores as probabilities: `bins` equal-width bins over [0, 1], bin b being
 * [b/bins, (b+1)/bins) with exactly those bounds (as doubles) deciding membership.
 */
export function calibration(labels: ArrayLike<number>, scores: ArrayLike<number>, bins = 10): Calibration {
  const n = checkedLength('calibration', labels, scores);
  checkBins('calibration()', bins);
  const counts = new Array<number>(bins).fill(0);
  const scoreSums = new Array<number>(bins).fill(0);
  const positiveCounts = new Array<number>(bins).fill(0);
  for (let i = 0; i < n; i++) {
    const b = binOf(scores[i]!, bins);
    counts[b]! += 1;
    scoreSums[b]! += scores[i]!;
    positiveCounts[b]! += labels[i]!;
  }
  let ece = 0;
  const rows = counts.map((count, b): CalibrationBin => {
    const meanScore = scoreSums[b]! / count;
    const positiveRate = positiveCounts[b]! / count;
    if (count > 0) ece += (count / n) * Math.abs(positiveRate - meanScore);
    return { lower: b / bins, upper: (b + 1) / bins, n: count, meanScore, positiveRate };
  });
  return { bins: rows, ece: n === 0 ? Number.NaN : ece };
}

/** The bin of a score in [0, 1]: score·bins rounds, so its floor is corrected against the bin's own bounds. */
function binOf(score: number, bins: number): number {
  let b = Math.min(Math.floor(score * bins), bins - 1);
  if (score < b / bins) b--;
  else if (b + 1 < bins && score >= (b + 1) / bins) b++;
  return b;
}

function checkBins(where: string, bins: number): void {
  if (!Number.isInteger(bins) || bins < 1) throw new RtmlError('RTML_E_AGGREGATE', `${where}: bins must be a positive integer, got ${bins}`);
}

function checkedLength(fn: string, labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = labels.length;
  if (scores.length !== n) throw new RtmlError('RTML_E_AGGREGATE', `${fn}(): ${n} labels but ${scores.length} scores`);
  for (let i = 0; i < n; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new RtmlError('RTML_E_AGGREGATE', `${fn}(): label ${i} is ${labels[i]}, not 0 or 1`);
    if (!isProbability(scores[i])) throw new RtmlError('RTML_E_AGGREGATE', `${fn}(): score ${i} is ${scores[i]}, not a finite number in [0, 1]`);
  }
  return n;
}

const isProbability = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 1;

/**
 * The accumulator of `accuracy()`: the labelled events' labels and scores (parallel arrays, in the
 * order they were added) and how many events had no label. Plain data, so checkpoints serialize it.
 */
export interface AccuracyAcc {
  labels: number[];
  scores: number[];
  unlabelled: number;
}

/** A window's accuracy; a metric the window's labelled events leave undefined is null. */
export interface AccuracyResult {
  labelled: number;
  /** Events whose label was null or missing: counted, left out of every metric. */
  unlabelled: number;
  positives: number;
  auc: number | null;
  log_loss: number | null;
  precision: number | null;
  recall: number | null;
  ece: number | null;
  /** The threshold precision and recall were taken at. */
  threshold: number;
}

export interface AccuracyOptions<E> {
  /** The model's score: a finite number in [0, 1]. */
  score: Field<E>;
  /** The outcome: 0, 1, true or false; null or missing for a prediction not labelled (yet). */
  label: Field<E>;
  /** Predicted positive when score >= threshold (default 0.5). */
  threshold?: number;
  /** Calibration bins for the ECE (default 10). */
  bins?: number;
}

/**
 * A window's online accuracy: AUC, log loss, precision and recall at `threshold`, and ECE over
 * `bins` bins, of its labelled events. An event whose score is not a finite number in [0, 1], or
 * whose label is neither 0/1/true/false nor null/missing, is bad input (dead-lettered with the
 * reason). The metrics are exact, so the accumulator keeps every labelled event's label and score:
 * memory grows with the window's labelled events, and each result sorts them (O(n log n)), which
 * `emit: 'update'` pays after every event.
 *
 * ```ts
 * window(tumbling('1h')), aggregate({ quality: accuracy({ score: 'score', label: 'is_fraud', threshold: 0.8 }) })
 * ```
 */
export function accuracy<E = unknown>(options: AccuracyOptions<E>): Aggregate<E, AccuracyAcc, AccuracyResult> {
  const { threshold = 0.5, bins = 10 } = options;
  const score = reader(options.score, 'score');
  const label = reader(options.label, 'label');
  const name = `accuracy(${score.label}, ${label.label})`;
  if (!Number.isFinite(threshold)) throw new RtmlError('RTML_E_AGGREGATE', `${name}: threshold must be a finite number, got ${threshold}`);
  checkBins(name, bins);
  return defineAggregate<E, AccuracyAcc, AccuracyResult>({
    name,
    init: () => ({ labels: [], scores: [], unlabelled: 0 }),
    add(acc, event) {
      const y = label.read(event);
      if (y === null || y === undefined) acc.unlabelled++;
      else {
        acc.labels.push(y === true || y === 1 ? 1 : 0);
        acc.scores.push(score.read(event) as number);
      }
      return acc;
    },
    merge(a, b) {
      // A loop, not push(...b): a spread of a large window's arrays would overflow the stack.
      for (let i = 0; i < b.labels.length; i++) {
        a.labels.push(b.labels[i]!);
        a.scores.push(b.scores[i]!);
      }
      a.unlabelled += b.unlabelled;
      return a;
    },
    result({ labels, scores, unlabelled }) {
      const { precision, recall, truePositives, falseNegatives } = precisionRecall(labels, scores, threshold);
      return {
        labelled: labels.length,
        unlabelled,
        positives: truePositives + falseNegatives,
        auc: orNull(rocAuc(labels, scores)),
        log_loss: orNull(logLoss(labels, scores)),
        precision: orNull(precision),
        recall: orNull(recall),
        ece: orNull(calibration(labels, scores, bins).ece),
        threshold,
      };
    },
    check(event) {
      const s = score.read(event);
      if (!isProbability(s)) return `${name}: score is ${shown(s)}, not a finite number in [0, 1]`;
      const y = label.read(event);
      if (y === null || y === undefined || y === 0 || y === 1 || typeof y === 'boolean') return undefined;
      return `${name}: label is ${shown(y)}, not 0, 1, true or false (null or missing: not labelled yet)`;
    },
  });
}

const orNull = (v: number): number | null => (Number.isNaN(v) ? null : v);

function reader<E>(field: Field<E>, what: string): { read: (e: E) => unknown; label: string } {
  if (typeof field === 'function') return { read: field, label: `${what}: fn` };
  if (typeof field !== 'string' || field === '') throw new RtmlError('RTML_E_AGGREGATE', `accuracy(): ${what} needs a field name or a function, got ${JSON.stringify(field)}`);
  return { read: (e) => (e as Record<string, unknown>)[field], label: `'${field}'` };
}

/** A value as a reason shows it: numbers (NaN too), bigints and undefined as themselves, anything else as JSON. */
function shown(v: unknown): string {
  const t = typeof v;
  return t === 'number' || t === 'bigint' || t === 'undefined' ? String(v) : (JSON.stringify(v) ?? String(v)).slice(0, 40);
}
