import { mergeMap } from 'rxjs';
import { aggregate, count, defineTopology, hopping, keyBy, tumbling, window, type RecordKey } from 'rtml';
import { allMax } from './aggregates.ts';
import type { Bid } from './generator.ts';

interface AuctionCount {
  key: RecordKey;
  window_start: number;
  window_end: number;
  num: number;
}

/**
 * Nexmark q5, hot items: in every 10 s window sliding by 2 s, the auction(s) with the most bids.
 * Bids are counted per auction and window; each window's counts (timed at its end − 1) then fall
 * in one 2 s tumbling window of their own, keyed by the window's end, where the greatest wins.
 */
export default defineTopology('nexmark-q5', ({ source, sink }) =>
  source<Bid>('bid', { time: 'dateTime' }).pipe(
    keyBy('auction'),
    window(hopping('10s', '2s')),
    aggregate({ num: count() }),
    keyBy('window_end'),
    window(tumbling('2s')),
    aggregate({ top: allMax((c: AuctionCount) => c.num) }),
    mergeMap(({ top }) => top.items.map((c) => ({ auction: c.key, num: c.num, window_start: c.window_start, window_end: c.window_end }))),
    sink('out'),
  ),
);
