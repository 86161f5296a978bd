import { map } from 'rxjs';
import { aggregate, avg, count, defineTopology, keyBy, tumbling, window } from 'rtml';
import type { Auction, Bid } from './generator.ts';
import { winningBids, type Winner } from './winningBids.ts';

/**
 * Nexmark q4, average price per category: the mean winning price of the closed auctions of each
 * category, updated with every winner. Nexmark's aggregate is unbounded; here it is per day of
 * event time (`emit: 'update'`: a result after every winner, and the final one when the day ends),
 * which covers a whole benchmark run (10 M events span under 20 minutes from midnight), keeps the
 * state in the engine's checkpoints and frees it day by day.
 */
export default defineTopology('nexmark-q4', ({ source, sink }) =>
  winningBids(source<Auction>('auction', { time: 'dateTime' }), source<Bid>('bid', { time: 'dateTime' })).pipe(
    keyBy((w: Winner) => w.auction.category),
    window(tumbling('1d'), { emit: 'update' }),
    aggregate({ avg: avg((w: Winner) => w.bid.price), auctions: count() }),
    map(({ key, avg: mean, auctions }) => ({ category: key, avg: mean, auctions })),
    sink('out'),
  ),
);
