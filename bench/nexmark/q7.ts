import { mergeMap } from 'rxjs';
import { aggregate, defineTopology, keyBy, tumbling, window } from 'rtml';
import { allMax } from './aggregates.ts';
import type { Bid } from './generator.ts';

/** Nexmark q7, highest bid: in every 10 s tumbling window, the bid(s) with the highest price. */
export default defineTopology('nexmark-q7', ({ source, sink }) =>
  source<Bid>('bid', { time: 'dateTime' }).pipe(
    // One global window per 10 s: every bid under the same key.
    keyBy(() => 0),
    window(tumbling('10s')),
    aggregate({ top: allMax((b: Bid) => b.price) }),
    mergeMap(({ top, window_start, window_end }) =>
      top.items.map((b) => ({ auction: b.auction, price: b.price, bidder: b.bidder, dateTime: b.dateTime, extra: b.extra, window_start, window_end })),
    ),
    sink('out'),
  ),
);
