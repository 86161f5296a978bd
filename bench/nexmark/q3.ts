import { filter } from 'rxjs';
import { asOfJoin, defineTopology, keyBy } from 'rtml';
import type { Auction, Person } from './generator.ts';

/**
 * Nexmark q3, local item suggestion: the sellers in Oregon, Idaho or California of auctions in
 * category 10. Each auction joins the person (a changelog keyed by id) as it stood at the auction's
 * time; a person never changes, so that is the seller if it was registered by then.
 */
export default defineTopology('nexmark-q3', ({ source, sink }) => {
  const sellers = source<Person>('person', { time: 'dateTime' }).pipe(
    filter((p) => p.state === 'OR' || p.state === 'ID' || p.state === 'CA'),
    keyBy('id'),
  );
  return source<Auction>('auction', { time: 'dateTime' }).pipe(
    filter((a) => a.category === 10),
    keyBy('seller'),
    asOfJoin(sellers, { select: (a: Auction, p: Person) => ({ name: p.name, city: p.city, state: p.state, id: a.id }) }),
    sink('out'),
  );
});
