import { map } from 'rxjs';
import { defineTopology } from 'rtml';
import type { Auction, Bid } from './generator.ts';
import { winningBids } from './winningBids.ts';

/** Nexmark q9, winning bids: each auction with its winning bid, once it has closed. */
export default defineTopology('nexmark-q9', ({ source, sink }) =>
  winningBids(source<Auction>('auction', { time: 'dateTime' }), source<Bid>('bid', { time: 'dateTime' })).pipe(
    map(({ auction, bid }) => ({ ...auction, bidder: bid.bidder, price: bid.price, bid_dateTime: bid.dateTime, bid_extra: bid.extra })),
    sink('out'),
  ),
);
