import { featureMatrix, type LabelledData } from './matrix.ts';

/**
 * Seeded synthetic classification data for tests and benches: features uniform in [0, 1), the
 * label `x0 > 0.5 XOR x1 > 0.5`, flipped for a `noise` share of rows. Column 2 (when there is one)
 * is missing for a `missing` share of rows; column 3 (when there is one) is constant. Same seed,
 * same data.
 */

export interface SyntheticOptions {
  rows: number;
  features: number;
  seed?: number;
  /** Share of labels flipped (default 0.05). */
  noise?: number;
  /** Share of rows whose column 2 is missing (default 0.1). */
  missing?: number;
}

export function xorData(options: SyntheticOptions): LabelledData {
  const { rows, features: f } = options;
  if (f < 2) throw new RangeError('xorData needs at least 2 features');
  const rand = mulberry32(options.seed ?? 1);
  const noise = options.noise ?? 0.05;
  const missing = options.missing ?? 0.1;
  const names = Array.from({ length: f }, (_, j) => `x${j}`);
  const matrix = featureMatrix(names, rows);
  const labels = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    const base = i * f;
    for (let j = 0; j < f; j++) matrix.values[base + j] = j === 3 ? 1 : rand();
    if (f > 2 && rand() < missing) matrix.values[base + 2] = Number.NaN;
    const y = matrix.values[base]! > 0.5 !== matrix.values[base + 1]! > 0.5;
    labels[i] = (rand() < noise ? !y : y) ? 1 : 0;
  }
  return { matrix, labels };
}

/** A small, fast, well-mixed 32-bit PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
