import { map } from 'rxjs';
import { defineTopology, intervalJoin, keyBy } from 'rtml';

/** A prediction as `score()` emits it (topologies/fraud.ts), and the outcome learned later. */
interface Prediction {
  txn_id: string;
  card_id: string;
  ts: number;
  score: number;
  label: 0 | 1;
  model: string;
  version: string;
}

interface Outcome {
  txn_id: string;
  is_fraud: boolean;
  /** When the outcome became known (a chargeback), after the payment. */
  ts: number;
}

/**
 * Each prediction with the outcome of its payment, when that arrives within a day: labelled rows for
 * online accuracy per model version. A prediction whose outcome has not come a day later is emitted
 * once, unlabelled (`is_fraud: null`), when the watermark proves it cannot come any more — never
 * early, never twice. Outcomes up to 1 h late still join; later ones go to `late` as `{ side, event }`.
 */
export default defineTopology('labelled-predictions', ({ source, sink }) => {
  const outcomes = source<Outcome>('outcomes', { time: 'ts', outOfOrder: '1m' }).pipe(keyBy('txn_id'));
  return source<Prediction>('predictions', { time: 'ts', outOfOrder: '5s' }).pipe(
    keyBy('txn_id'),
    intervalJoin(outcomes, { between: [0, '1d'], lateness: '1h', type: 'left', late: 'late' }),
    map(({ left, right }) => ({
      txn_id: left.txn_id,
      card_id: left.card_id,
      ts: left.ts,
      score: left.score,
      model: left.model,
      version: left.version,
      is_fraud: right === null ? null : right.is_fraud,
      labelled_at: right === null ? null : right.ts,
    })),
    sink('labelled'),
  );
});
