import { aggregate, count, defineTopology, keyBy, session, window } from 'rtml';
import type { Bid } from './generator.ts';

/** Nexmark q11, user sessions: per bidder, the bids of each session with gaps under 10 s. */
export default defineTopology('nexmark-q11', ({ source, sink }) =>
  source<Bid>('bid', { time: 'dateTime' }).pipe(keyBy('bidder'), window(session('10s')), aggregate({ bid_count: count() }), sink('out')),
);
