import { pipe } from 'rxjs';
import { aggregate, count, defineTopology, distinct, featureView, keyBy, materialize, max, sum, tumbling, window } from 'rtml';

/**
 * Per-card activity in the current minute, updated with every payment: how many, how much, at how
 * many merchants, the largest. `at` (the latest payment's time) is when the values became true, so
 * a training set joined "as of" a time sees exactly what scoring saw then.
 */
export const cardMinute = featureView({ name: 'card_minute', features: ['n', 'total', 'uniq', 'max_amount'], time: 'at', ttl: '1h' });

/** Keyed transactions -> the card_minute feature rows (materialised). */
export const minuteFeatures = pipe(
  window(tumbling('1m'), { emit: 'update', lateness: '30s' }),
  aggregate({ n: count(), total: sum('amount'), uniq: distinct('merchant_id'), max_amount: max('amount'), at: max('ts') }),
  materialize(cardMinute),
);

/** Computes card_minute alone: for backfills and training sets. */
export default defineTopology('card-minute', ({ source }) =>
  source('transactions', { schema: '../schemas/transaction.avsc', time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'), minuteFeatures),
);
