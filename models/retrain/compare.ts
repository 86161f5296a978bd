import { RtmlError } from '../../engine/errors.ts';
import { scoreWithOnnx } from '../onnx/index.ts';
import type { LabelledData } from '../training/index.ts';
import { atLeast, improvement, type Metric } from './metric.ts';

/**
 * Champion against challenger: both models scored by ONNX Runtime from their registered bytes on
 * the same evaluation rows — the most recent ones, which the challenger was not trained on. The
 * challenger wins when it is better by at least `margin` (auc: challenger ≥ champion + margin;
 * log_loss: challenger ≤ champion − margin), or when there is no champion.
 */

export interface Contender {
  readonly version: number;
  readonly bytes: Uint8Array;
  /** The evaluation rows in this model's feature order. */
  readonly rows: LabelledData;
}

export interface Comparison {
  readonly metric: Metric['name'];
  readonly rows: number;
  readonly margin: number;
  readonly challenger: { readonly version: number; readonly value: number };
  readonly champion: { readonly version: number; readonly value: number } | null;
  readonly wins: boolean;
}

export async function compareModels(metric: Metric, margin: number, challenger: Contender, champion: Contender | null): Promise<Comparison> {
  const score = async (c: Contender) => {
    const value = metric.compute(c.rows.labels, await scoreWithOnnx(c.bytes, c.rows.matrix));
    if (Number.isNaN(value)) {
      const n = c.rows.labels.length;
      throw new RtmlError('RTML_E_TRAIN', `${metric.name} is undefined on the ${n} evaluation row(s)${n > 0 ? ': they hold one class only' : ''}; give the range more labels`);
    }
    return { version: c.version, value };
  };
  const c = await score(challenger);
  const ch = champion === null ? null : await score(champion);
  return { metric: metric.name, rows: challenger.rows.labels.length, margin, challenger: c, champion: ch, wins: ch === null || atLeast(improvement(metric, c.value, ch.value), margin) };
}
