import { RtmlError } from '../../engine/errors.ts';
import { sliceRows, type LabelledData } from './matrix.ts';

/**
 * The held-out split: the LAST `fraction` of the rows, by row order, no shuffling. Training sets
 * from `rtml features export` are in label order, i.e. by time, so this holds out the most recent
 * rows — the model is judged on the future it was not trained on, as it will be used. Deterministic
 * by construction.
 */

export const DEFAULT_HOLDOUT = 0.2;

export interface HoldoutSplit {
  readonly train: LabelledData;
  readonly heldOut: LabelledData;
}

export function holdoutSplit(data: LabelledData, fraction = DEFAULT_HOLDOUT): HoldoutSplit {
  if (!(fraction > 0 && fraction < 1)) throw new RtmlError('RTML_E_TRAIN', `held-out fraction ${fraction}: expected a number in (0, 1)`);
  const rows = data.matrix.rows;
  const cut = rows - Math.round(rows * fraction);
  if (cut < 1 || cut >= rows) throw new RtmlError('RTML_E_TRAIN', `${rows} row(s) are too few to hold ${Math.round(fraction * 100)} % out`);
  return { train: sliceRows(data, 0, cut), heldOut: sliceRows(data, cut, rows) };
}
