import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';

/** The topology of bench/jsonl-run.ts and bench/log-run.ts: keyed 10 s tumbling count + sum. */
export default defineTopology('bench-tumbling', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '5s' }).pipe(
    keyBy('card_id'),
    window(tumbling('10s')),
    aggregate({ n: count(), total: sum('amount') }),
    sink('out'),
  ),
);
