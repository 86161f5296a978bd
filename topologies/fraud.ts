import { defineTopology, enrich, keyBy, score } from 'rtml';
import { cardMinute, minuteFeatures } from './card-minute.ts';

/** The model's inputs, in order: the payment's amount and the card's activity this minute. */
export const FRAUD_FEATURES = ['amount', 'card_minute__n', 'card_minute__total', 'card_minute__uniq', 'card_minute__max_amount'];

/**
 * Fraud scoring: each payment, enriched with its card's activity in the current minute (computed
 * from the payments before it), is scored by the model registry's `fraud` model (production, or an
 * A/B split by card; promotions and rollbacks apply without restart) and sent to `predictions`. A
 * card with no activity yet has missing features, which the model routes as it learned in training.
 */
export default defineTopology('fraud', ({ source, sink }) => {
  const payments = source('transactions', { schema: '../schemas/transaction.avsc', time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'));
  return [
    payments.pipe(minuteFeatures),
    payments.pipe(
      enrich(cardMinute, { prefix: 'card_minute__' }),
      score('registry:fraud', { features: FRAUD_FEATURES.map((name) => ({ name, default: Number.NaN })) }),
      sink('predictions'),
    ),
  ];
});
