import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map } from 'rxjs';
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from '../engine/index.ts';
import { Undecodable } from './support/memory.ts';
import { runOn } from './support/run.ts';
import { txnSchema } from './support/schemas.ts';

const schema = txnSchema;

const topology = defineTopology('dlq', ({ source, sink }) =>
  source('events', { schema, time: 'ts' }).pipe(
    keyBy('card_id'),
    window(tumbling(10)),
    aggregate({ n: count(), total: sum('amount') }),
    sink('out'),
  ),
);

describe('bad input', () => {
  it('goes to the dlq with reason, source, partition, offset and payload; the counts add up', async () => {
    const good = (card: string, ts: number) => ({ card_id: card, amount: 1, ts });
    const { out, dlq, stats } = await runOn(
      topology,
      [
        [
          good('a', 1),
          new Undecodable('invalid JSON: Unexpected token', '{"card_id": '),
          { card_id: 'a', amount: 'lots', ts: 2 },
          { card_id: 'a', amount: 1 },
          { card_id: 'a', amount: 1, ts: 3, extra: true },
          good('a', 4),
        ],
        [good('b', 5), { card_id: 'b', amount: 1, ts: 'yesterday' }],
      ],
      { bindLate: false },
    );
    assert.deepEqual(
      dlq.map((d) => [d.source, d.partition, d.offset]),
      [
        ['events', 0, 1],
        ['events', 0, 2],
        ['events', 0, 3],
        ['events', 0, 4],
        ['events', 1, 1],
      ],
    );
    const reasons = dlq.map((d) => d.reason as string);
    assert.match(reasons[0]!, /^invalid JSON/);
    assert.match(reasons[1]!, /schema Txn mismatch: field 'amount': expected double, got "lots"/);
    assert.match(reasons[2]!, /field 'ts': missing/);
    assert.match(reasons[3]!, /undeclared field\(s\) extra/);
    assert.match(reasons[4]!, /field 'ts': expected long, got "yesterday"/);
    assert.equal(dlq[0]!.payload, '{"card_id": ');
    assert.deepEqual(dlq[1]!.payload, { card_id: 'a', amount: 'lots', ts: 2 });
    assert.deepEqual(out.map((r) => [r.key, r.n]), [['a', 2], ['b', 1]]);
    assert.deepEqual([stats.in, stats.processed, stats.late, stats.deadLettered], [8, 3, 0, 5]);
    assert.equal(stats.in, stats.processed + stats.late + stats.deadLettered);
  });

  it('dead-letters missing keys, non-numeric aggregate inputs and missing times without a schema', async () => {
    const loose = defineTopology('loose', ({ source, sink }) =>
      source<{ when?: number; user?: string }>('events', { time: (e) => e.when! }).pipe(
        keyBy((e) => e.user!),
        window(tumbling(10)),
        aggregate({ total: sum('amount') }),
        sink('out'),
      ),
    );
    const { out, dlq, stats } = await runOn(
      loose,
      [[{ user: 'u', when: 1, amount: 2 }, { when: 2, amount: 2 }, { user: 'u', when: 3, amount: null }, { user: 'u', amount: 1 }, 'just a string']],
      { bindLate: false },
    );
    assert.deepEqual(
      dlq.map((d) => d.reason),
      [
        'keyBy(fn): key is missing, not a string or finite number',
        "sum('amount'): value is null, not a finite number",
        "source 'events': time function returned undefined, not a finite number",
        "source 'events': time function returned undefined, not a finite number",
      ],
    );
    assert.deepEqual(out.map((r) => r.total), [2]);
    assert.deepEqual([stats.in, stats.processed, stats.deadLettered], [5, 1, 4]);
  });

  it('a failing user map stops the run with the source position of the event', async () => {
    const failing = defineTopology('fails', ({ source, sink }) =>
      source<{ t: number }>('events', { time: 't' }).pipe(
        map((e) => {
          if (e.t === 2) throw new Error('boom');
          return e;
        }),
        sink('out'),
      ),
    );
    await assert.rejects(runOn(failing, [[{ t: 1 }, { t: 2 }]], { bindLate: false }), /topology 'fails' failed at source 'events' partition 0 offset 1: boom/);
  });

  it('without a dlq sink, dead letters are reported and counted', async () => {
    const { runTopology } = await import('../engine/runtime.ts');
    const { memorySink, memorySource } = await import('./support/memory.ts');
    const warnings: string[] = [];
    const stats = await runTopology(topology, {
      sources: { events: memorySource([[{ card_id: 'a', amount: 1 }]]) },
      sinks: { out: memorySink().connector },
      warn: (m) => warnings.push(m),
    });
    assert.equal(stats.deadLettered, 1);
    assert.equal(stats.deadLettersUnbound, 1);
    assert.match(warnings[0]!, /dead letter \(bind --sink dlq=URI to keep them\): events partition 0 offset 0: .*field 'ts': missing/);
  });
});
