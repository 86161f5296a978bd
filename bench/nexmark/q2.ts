import { filter, map } from 'rxjs';
import { defineTopology } from 'rtml';
import type { Bid } from './generator.ts';

/** Nexmark q2, selection: the bids on every 123rd auction. */
export default defineTopology('nexmark-q2', ({ source, sink }) =>
  source<Bid>('bid', { time: 'dateTime' }).pipe(
    filter((b) => b.auction % 123 === 0),
    map((b) => ({ auction: b.auction, price: b.price })),
    sink('out'),
  ),
);
