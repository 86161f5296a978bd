import { filter, map, type Observable } from 'rxjs';
import { aggregate, intervalJoin, keyBy, session, window } from 'rtml';
import { firstMax } from './aggregates.ts';
import { maxAuctionDuration, type Auction, type Bid } from './generator.ts';

/** An auction with a bid on it: a candidate, and in the end the winner. */
export interface Winner {
  auction: Auction;
  bid: Bid;
}

/**
 * The winning bid of each auction that had one (q9, and q4's input): of the bids on it between its
 * dateTime and its expiry, the highest, the earliest of equal ones. Auctions meet their bids in an
 * interval join bounded by the longest auction; each auction's candidates fall in one session
 * (they are less than a gap apart), which fires once the auction has closed.
 */
export function winningBids(auctions: Observable<Auction>, bids: Observable<Bid>): Observable<Winner> {
  const longest = maxAuctionDuration();
  return auctions.pipe(
    keyBy('id'),
    intervalJoin(bids.pipe(keyBy('auction')), { between: [0, longest], select: (auction: Auction, bid: Bid): Winner => ({ auction, bid }) }),
    filter(({ auction, bid }) => bid.dateTime <= auction.expires),
    window(session(longest + 1)),
    aggregate({ winner: firstMax((c: Winner) => c.bid.price) }),
    // A session holds at least one candidate, so it has a winner.
    map(({ winner }) => winner!),
  );
}
