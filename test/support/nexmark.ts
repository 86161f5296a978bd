import { NexmarkGenerator, type Auction, type Bid, type GeneratorOptions, type Person } from '../../bench/nexmark/generator.ts';
import { loadQuery, QUERIES, type QueryName } from '../../bench/nexmark/queries.ts';
import { nexmarkSources } from '../../bench/nexmark/sources.ts';
import { runTopology, type RunStats } from '../../engine/runtime.ts';
import { memorySink } from './memory.ts';

/**
 * The Nexmark queries' definitions computed by brute force over all the events at once, in plain
 * TypeScript, to check what bench/nexmark/qN.ts emit when rtml runs them.
 */

export interface NexmarkInput {
  generator: NexmarkGenerator;
  persons: Person[];
  auctions: Auction[];
  bids: Bid[];
}

/** Every event of a generator's stream, by kind, in id order. */
export function generated(options: GeneratorOptions): NexmarkInput {
  const generator = new NexmarkGenerator(options);
  const input: NexmarkInput = { generator, persons: [], auctions: [], bids: [] };
  for (let id = 0; id < generator.events; id++) {
    const e = generator.event(id);
    if (e.kind === 'person') input.persons.push(e.event);
    else if (e.kind === 'auction') input.auctions.push(e.event);
    else input.bids.push(e.event);
  }
  return input;
}

/** Runs bench/nexmark/<name>.ts over the generator's in-process sources (the dead-letter output bound too). */
export async function runQuery(name: QueryName, generator: NexmarkGenerator): Promise<{ out: Record<string, unknown>[]; stats: RunStats; dlq: unknown[] }> {
  const out = memorySink();
  const dlq = memorySink();
  const stats = await runTopology(await loadQuery(name), {
    sources: nexmarkSources(generator, QUERIES[name]),
    sinks: { out: out.connector, dlq: dlq.connector },
    warn: () => {},
  });
  return { out: out.json(), stats, dlq: dlq.values };
}

const SECOND = 1000;

/** Groups `items` by `key`, keeping their order within each group. */
function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Of the items, those with the greatest `value`. */
function allMax<T>(items: readonly T[], value: (item: T) => number): T[] {
  const max = Math.max(...items.map(value));
  return items.filter((i) => value(i) === max);
}

export function q0({ bids }: NexmarkInput): unknown[] {
  return bids;
}

export function q1({ bids }: NexmarkInput): unknown[] {
  return bids.map((b) => ({ auction: b.auction, bidder: b.bidder, price: b.price * 0.908, dateTime: b.dateTime, extra: b.extra }));
}

export function q2({ bids }: NexmarkInput): unknown[] {
  return bids.filter((b) => b.auction % 123 === 0).map((b) => ({ auction: b.auction, price: b.price }));
}

export function q3({ persons, auctions }: NexmarkInput): unknown[] {
  const local = new Map(persons.filter((p) => ['OR', 'ID', 'CA'].includes(p.state)).map((p) => [p.id, p]));
  return auctions.flatMap((a) => {
    const p = local.get(a.seller);
    return a.category === 10 && p !== undefined && p.dateTime <= a.dateTime ? [{ name: p.name, city: p.city, state: p.state, id: a.id }] : [];
  });
}

/** Each auction's winning bid: the highest between its start and expiry, the earliest of equal ones. */
export function winners({ auctions, bids }: NexmarkInput): { auction: Auction; bid: Bid }[] {
  const byAuction = groupBy(bids, (b) => b.auction);
  return auctions.flatMap((auction) => {
    const candidates = (byAuction.get(auction.id) ?? []).filter((b) => b.dateTime >= auction.dateTime && b.dateTime <= auction.expires);
    if (candidates.length === 0) return [];
    const best = allMax(candidates, (b) => b.price);
    return [{ auction, bid: best.reduce((a, b) => (b.dateTime < a.dateTime ? b : a)) }];
  });
}

/** q4's last update per category: the mean winning price of all its closed auctions. */
export function q4(input: NexmarkInput): unknown[] {
  return [...groupBy(winners(input), (w) => w.auction.category)].map(([category, ws]) => ({
    category,
    avg: ws.reduce((s, w) => s + w.bid.price, 0) / ws.length,
    auctions: ws.length,
  }));
}

export function q5({ bids }: NexmarkInput): unknown[] {
  const size = 10 * SECOND;
  const advance = 2 * SECOND;
  const counts = new Map<number, Map<number, number>>();
  for (const b of bids) {
    for (let start = Math.floor(b.dateTime / advance) * advance; start > b.dateTime - size; start -= advance) {
      const window = counts.get(start) ?? new Map<number, number>();
      counts.set(start, window);
      window.set(b.auction, (window.get(b.auction) ?? 0) + 1);
    }
  }
  return [...counts].flatMap(([start, window]) =>
    allMax([...window], ([, n]) => n).map(([auction, num]) => ({ auction, num, window_start: start, window_end: start + size })),
  );
}

export function q7({ bids }: NexmarkInput): unknown[] {
  const size = 10 * SECOND;
  return [...groupBy(bids, (b) => Math.floor(b.dateTime / size) * size)].flatMap(([start, inWindow]) =>
    allMax(inWindow, (b) => b.price).map((b) => ({ auction: b.auction, price: b.price, bidder: b.bidder, dateTime: b.dateTime, extra: b.extra, window_start: start, window_end: start + size })),
  );
}

export function q8({ persons, auctions }: NexmarkInput): unknown[] {
  const size = 10 * SECOND;
  const sellers = new Set(auctions.map((a) => `${a.seller}@${Math.floor(a.dateTime / size)}`));
  return persons
    .filter((p) => sellers.has(`${p.id}@${Math.floor(p.dateTime / size)}`))
    .map((p) => {
      const start = Math.floor(p.dateTime / size) * size;
      return { id: p.id, name: p.name, window_start: start, window_end: start + size };
    });
}

export function q9(input: NexmarkInput): unknown[] {
  return winners(input).map(({ auction, bid }) => ({ ...auction, bidder: bid.bidder, price: bid.price, bid_dateTime: bid.dateTime, bid_extra: bid.extra }));
}

export function q11({ bids }: NexmarkInput): unknown[] {
  const gap = 10 * SECOND;
  return [...groupBy(bids, (b) => b.bidder)].flatMap(([bidder, own]) => {
    // Bids come in time order: a session ends where the next bid is a gap or more later.
    const sessions: { key: number; window_start: number; window_end: number; bid_count: number }[] = [];
    for (const b of own) {
      const last = sessions.at(-1);
      if (last !== undefined && b.dateTime < last.window_end) {
        last.window_end = b.dateTime + gap;
        last.bid_count++;
      } else sessions.push({ key: bidder, window_start: b.dateTime, window_end: b.dateTime + gap, bid_count: 1 });
    }
    return sessions;
  });
}

export const expected: Record<QueryName, (input: NexmarkInput) => unknown[]> = { q0, q1, q2, q3, q4, q5, q7, q8, q9, q11 };
