import { distinctUntilChanged, map } from 'rxjs';
import { defineTopology, keyBy, tumbling, windowJoin } from 'rtml';
import type { Auction, Person } from './generator.ts';

/**
 * Nexmark q8, monitor new users: the persons who registered and opened an auction in the same
 * 10 s tumbling window, once per window. A window emits a person's pairs one after the other
 * (one person per id, with each of its auctions), so dropping repeats of the row before is enough.
 */
export default defineTopology('nexmark-q8', ({ source, sink }) => {
  const auctions = source<Auction>('auction', { time: 'dateTime' }).pipe(keyBy('seller'));
  return source<Person>('person', { time: 'dateTime' }).pipe(
    keyBy('id'),
    windowJoin(auctions, tumbling('10s')),
    map(({ left: p, window_start, window_end }) => ({ id: p.id, name: p.name, window_start, window_end })),
    distinctUntilChanged((a, b) => a.id === b.id && a.window_start === b.window_start),
    sink('out'),
  );
});
