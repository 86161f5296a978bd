import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  countOf,
  DEFAULT_BASE_TIME,
  FIRST_AUCTION_ID,
  FIRST_CATEGORY_ID,
  FIRST_PERSON_ID,
  idOf,
  kindOf,
  maxAuctionDuration,
  NexmarkGenerator,
  PERSON_ID_LEAD,
  US_STATES,
  type EventKind,
} from '../bench/nexmark/generator.ts';
import { QUERIES, type QueryName } from '../bench/nexmark/queries.ts';
import { nexmarkSource } from '../bench/nexmark/sources.ts';
import { canon, jsonLines, node, rtml, runSummary, sortedCanon } from './support/cli.ts';
import { expected, generated, runQuery, winners, type NexmarkInput } from './support/nexmark.ts';

/** The Nexmark suite (bench/nexmark): its generator, and each query checked against its definition computed by brute force. */

const KINDS: EventKind[] = ['person', 'auction', 'bid'];

describe('Nexmark generator', () => {
  it('makes 1 person, 3 auctions and 46 bids of every 50 events, in id order, with times from the base time at the rate', () => {
    for (let epoch = 0; epoch < 20; epoch++) {
      const kinds = Array.from({ length: 50 }, (_, i) => kindOf(epoch * 50 + i));
      assert.deepEqual([kinds.filter((k) => k === 'person').length, kinds.filter((k) => k === 'auction').length, kinds.filter((k) => k === 'bid').length], [1, 3, 46]);
    }
    const input = generated({ events: 5017 });
    assert.deepEqual([input.persons.length, input.auctions.length, input.bids.length], [101, 303, 4613]);
    for (const kind of KINDS) {
      assert.equal(countOf(kind, 5017), { person: 101, auction: 303, bid: 4613 }[kind]);
      // idOf enumerates the kind's ids in order.
      const ids = Array.from({ length: countOf(kind, 5017) }, (_, n) => idOf(kind, n));
      assert.deepEqual(ids, Array.from({ length: 5017 }, (_, id) => id).filter((id) => kindOf(id) === kind));
    }
    const g = new NexmarkGenerator({ events: 100, rate: 1000 });
    assert.equal(g.timeOf(0), DEFAULT_BASE_TIME);
    assert.equal(g.timeOf(1234), DEFAULT_BASE_TIME + 1234);
    assert.equal(new NexmarkGenerator({ events: 100 }).timeOf(1234), DEFAULT_BASE_TIME + 123);
  });

  it('gives the same events for the same seed and others for another seed', () => {
    const a = generated({ events: 2000, seed: 7 });
    const b = generated({ events: 2000, seed: 7 });
    const c = generated({ events: 2000, seed: 8 });
    const all = (i: NexmarkInput) => [...i.persons, ...i.auctions, ...i.bids].map(canon);
    assert.deepEqual(all(a), all(b));
    const other = all(c);
    const same = all(a).filter((e, i) => e === other[i]).length;
    assert.ok(same < 20, `${same} of 2000 events equal across seeds`);
    // Event i depends on (seed, i) only: a generator of a longer stream makes the same first events.
    assert.equal(canon(new NexmarkGenerator({ events: 10_000, seed: 7 }).event(1999).event), canon(a.bids.at(-1)));
  });

  it('keeps fields in their ranges: prices, categories, states, auction lengths', () => {
    const { persons, auctions, bids } = generated({ events: 20_000 });
    for (const p of persons) assert.ok(US_STATES.includes(p.state) && /^\d{4} \d{4} \d{4} \d{4}$/.test(p.creditCard) && p.emailAddress.endsWith('.com'), canon(p));
    for (const a of auctions) {
      assert.ok(a.category >= FIRST_CATEGORY_ID && a.category < FIRST_CATEGORY_ID + 5, canon(a));
      assert.ok(a.expires > a.dateTime && a.expires - a.dateTime <= maxAuctionDuration(), canon(a));
      assert.ok(Number.isInteger(a.initialBid) && a.initialBid >= 100 && a.reserve >= a.initialBid, canon(a));
    }
    for (const b of bids) assert.ok(Number.isInteger(b.price) && b.price >= 100 && b.price <= 100_000_000, canon(b));
    // Hot ids are the first auction / person (second, for bidders) of each batch of 100: half the
    // bids are on the hot auction, three quarters by the hot bidder, three quarters of auctions by the hot seller.
    const share = <T>(items: T[], hot: (item: T) => boolean) => items.filter(hot).length / items.length;
    assert.ok(Math.abs(share(bids, (b) => (b.auction - FIRST_AUCTION_ID) % 100 === 0) - 0.5) < 0.05);
    assert.ok(Math.abs(share(bids, (b) => (b.bidder - FIRST_PERSON_ID) % 100 === 1) - 0.75) < 0.05);
    assert.ok(Math.abs(share(auctions, (a) => (a.seller - FIRST_PERSON_ID) % 100 === 0) - 0.75) < 0.05);
    // Lengths average the time until 100 more auctions: ~167 ms at 10,000 events/s.
    const meanLength = auctions.reduce((s, a) => s + a.expires - a.dateTime, 0) / auctions.length;
    assert.ok(meanLength > 140 && meanLength < 195, `mean auction length ${meanLength}`);
  });

  it('makes bids and auctions name persons and auctions of the stream, a few of them not generated yet', () => {
    const events = 10_000;
    // Ids run at most a lead ahead: 10 persons (500 events) and 10 auctions (about 170 events).
    const { persons, auctions } = generated({ events: events + 50 * (PERSON_ID_LEAD + 1) });
    const personIds = new Set(persons.map((p) => p.id));
    const auctionIds = new Set(auctions.map((a) => a.id));
    const g = new NexmarkGenerator({ events });
    let ahead = 0;
    let references = 0;
    for (let id = 0; id < events; id++) {
      const e = g.event(id);
      const refs: [Set<number>, number][] = e.kind === 'bid' ? [[auctionIds, e.event.auction], [personIds, e.event.bidder]] : e.kind === 'auction' ? [[personIds, e.event.seller]] : [];
      for (const [ids, ref] of refs) {
        assert.ok(ids.has(ref), `event ${id} names ${ref}, not in the stream`);
        references++;
        // Generated after this event: a lead id.
        if (ids === auctionIds ? ref >= FIRST_AUCTION_ID + countOf('auction', id + 1) : ref >= FIRST_PERSON_ID + countOf('person', id + 1)) ahead++;
      }
    }
    // A pick among the active persons reaches 10 ahead: 10 in (persons so far + 10) early on, 10 in 1010 later.
    assert.ok(ahead > 0 && ahead / references < 0.1, `${ahead} of ${references} references ahead`);
  });

  it('reads each kind in id order from its in-process source, in batches', async () => {
    const g = new NexmarkGenerator({ events: 3000 });
    for (const kind of KINDS) {
      const reader = await nexmarkSource(g, kind).open({ from: 'earliest', follow: false, readerSchema: undefined });
      const values: unknown[] = [];
      for (let batch = await reader.read(0, 97); batch !== null; batch = await reader.read(0, 97)) {
        for (const r of batch) {
          assert.equal(r.offset, values.length);
          values.push(r.value);
        }
      }
      const want = generated({ events: 3000 })[`${kind}s` as 'persons' | 'auctions' | 'bids'];
      assert.deepEqual(values.map(canon), want.map(canon));
    }
  });
});

/**
 * Inputs per query: windowed queries get events 10 ms apart (rate 100/s) so a few thousand span
 * several 10 s windows; q3, q4 and q9 the default rate, at which auctions last a fraction of a second.
 */
const inputs: Record<QueryName, { events: number; rate?: number; atLeast: number }> = {
  q0: { events: 3000, atLeast: 2700 },
  q1: { events: 3000, atLeast: 2700 },
  q2: { events: 30_000, atLeast: 50 },
  q3: { events: 20_000, atLeast: 20 },
  q4: { events: 5000, atLeast: 5 },
  q5: { events: 8000, rate: 100, atLeast: 40 },
  q7: { events: 8000, rate: 100, atLeast: 8 },
  q8: { events: 8000, rate: 100, atLeast: 20 },
  q9: { events: 5000, atLeast: 200 },
  q11: { events: 8000, rate: 100, atLeast: 30 },
};

describe('Nexmark queries give what their definitions say', () => {
  for (const name of Object.keys(QUERIES) as QueryName[]) {
    it(name, async () => {
      const { events, rate, atLeast } = inputs[name];
      const input = generated({ events, rate, seed: 11 });
      const { out, stats, dlq } = await runQuery(name, input.generator);
      assert.equal(stats.in, QUERIES[name].reduce((n, kind) => n + countOf(kind, events), 0));
      assert.deepEqual([stats.late, stats.deadLettered, dlq.length], [0, 0, 0]);
      const want = expected[name](input);
      assert.ok(want.length >= atLeast, `the input gives ${name} only ${want.length} results`);
      if (name === 'q4') {
        // An update per closed auction and the final result of each category's day; the last of
        // each category is the mean of all its winners.
        assert.equal(out.length, winners(input).length + want.length);
        const last = new Map(out.map((row) => [row.category, row]));
        assert.deepEqual(sortedCanon([...last.values()]), sortedCanon(want));
      } else if (name === 'q0' || name === 'q1' || name === 'q2') {
        // One source, one partition: results come in input order.
        assert.deepEqual(out.map(canon), want.map(canon));
      } else {
        assert.deepEqual(sortedCanon(out), sortedCanon(want));
      }
    });
  }
});

describe('Nexmark over the embedded log', () => {
  it('generate.ts writes person, auction and bid topics that rtml run reads (q3 joins two of them)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-nexmark-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const generate = await node(['--import', 'tsx', 'bench/nexmark/generate.ts', '--events', '20000', '--seed', '5', '--log', dir]);
    assert.equal(generate.code, 0, generate.stderr);
    assert.match(generate.stderr, /20,000 events \(400 person, 1,200 auction, 18,400 bid\)/);
    const out = join(dir, 'q3.jsonl');
    const run = await rtml(['run', 'bench/nexmark/q3.ts', '--source', `person=log:${dir}/person`, '--source', `auction=log:${dir}/auction`, '--sink', `out=file:${out}`, '--no-progress']);
    assert.equal(run.code, 0, run.stderr);
    const summary = runSummary('nexmark-q3', run.stderr);
    assert.deepEqual([summary.in, summary.processed], [1600, 1600]);
    const want = expected.q3(generated({ events: 20_000, seed: 5 }));
    assert.ok(want.length > 20);
    assert.deepEqual(sortedCanon(jsonLines(out)), sortedCanon(want));
  });
});
