import { aggregate, avg, count, defineTopology, distinct, featureView, hopping, keyBy, materialize, max, min, sum, window } from 'rtml';

/**
 * Per-card spending over the last minute, refreshed every 20 s: the windowed behaviour a fraud
 * model scores on. Events up to 5 s out of order are in time; up to 30 s late they still update
 * their windows; later ones go to the `late` sink. The results are materialised as the feature view
 * `card_activity`: latest values per card online, every value with its time offline.
 */
export const cardActivity = featureView({
  name: 'card_activity',
  features: ['n', 'total', 'lo', 'hi', 'mean', 'uniq'],
  ttl: '1d',
});

export default defineTopology('card-activity', ({ source, sink }) =>
  source('events', { schema: '../schemas/transaction.avsc', time: 'ts', outOfOrder: '5s' }).pipe(
    keyBy('card_id'),
    window(hopping('60s', '20s'), { lateness: '30s', late: 'late', emit: 'final' }),
    aggregate({
      n: count(),
      total: sum('amount'),
      lo: min('amount'),
      hi: max('amount'),
      mean: avg('amount'),
      uniq: distinct('merchant_id'),
    }),
    materialize(cardActivity),
    sink('out'),
  ),
);
