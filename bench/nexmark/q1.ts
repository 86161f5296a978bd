import { map } from 'rxjs';
import { defineTopology } from 'rtml';
import type { Bid } from './generator.ts';

/** Nexmark q1, currency conversion: each bid with its price in euros (× 0.908). */
export default defineTopology('nexmark-q1', ({ source, sink }) =>
  source<Bid>('bid', { time: 'dateTime' }).pipe(
    map((b) => ({ auction: b.auction, bidder: b.bidder, price: b.price * 0.908, dateTime: b.dateTime, extra: b.extra })),
    sink('out'),
  ),
);
