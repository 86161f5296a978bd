import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';

/**
 * The topology of bench/jsonl-run.ts and bench/log-run.ts: per-card 1-minute tumbling count + sum
 * (1000 cards at 1000 events/s of event time: about 60 events per card and window).
 */
export default defineTopology('bench-tumbling', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '5s' }).pipe(
    keyBy('card_id'),
    window(tumbling('1m')),
    aggregate({ n: count(), total: sum('amount') }),
    sink('out'),
  ),
);
