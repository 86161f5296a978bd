import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map, merge } from 'rxjs';
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { memorySink, memorySource } from './support/memory.ts';

interface Order {
  user: string;
  ts: number;
  total: number;
}
interface Refund {
  customer: string;
  at: number;
  amount: number;
}

const topology = defineTopology('orders-and-refunds', ({ source, sink }) => {
  const orders = source<Order>('orders', { time: 'ts' }).pipe(map((o) => ({ user: o.user, delta: o.total })));
  const refunds = source<Refund>('refunds', { time: 'at' }).pipe(map((r) => ({ user: r.customer, delta: -r.amount })));
  const net = merge(orders, refunds).pipe(keyBy('user'), window(tumbling(10)), aggregate({ n: count(), net: sum('delta') }));
  // The raw orders also go to a second sink, unchanged.
  return [net.pipe(sink('net')), source<Order>('audit', { time: 'ts' }).pipe(sink('raw'))];
});

describe('several sources and sinks', () => {
  it('merges sources with rxjs and writes several sinks; each source is read once and shared', async () => {
    const net = memorySink();
    const raw = memorySink();
    const stats = await runTopology(topology, {
      sources: {
        orders: memorySource([[{ user: 'u1', ts: 1, total: 50 }, { user: 'u2', ts: 3, total: 20 }, { user: 'u1', ts: 12, total: 5 }]]),
        refunds: memorySource([[{ customer: 'u1', at: 4, amount: 15 }]]),
        audit: memorySource([[{ user: 'u9', ts: 2, total: 1 }]]),
      },
      sinks: { net: net.connector, raw: raw.connector },
    });
    assert.deepEqual(
      net.json().map((r) => `${r.key}@${r.window_start}:${r.n}/${r.net}`),
      ['u1@0:2/35', 'u2@0:1/20', 'u1@10:1/5'],
    );
    assert.deepEqual(raw.json(), [{ user: 'u9', ts: 2, total: 1 }]);
    assert.deepEqual([stats.in, stats.processed, stats.resultsOut], [5, 5, 4]);
  });

  it('takes the watermark as the min over sources: a quiet source holds windows back', async () => {
    const net = memorySink();
    const controller = new AbortController();
    const running = runTopology(topology, {
      sources: {
        orders: memorySource([[{ user: 'u1', ts: 1, total: 50 }, { user: 'u1', ts: 100, total: 5 }]], { live: true }),
        refunds: memorySource([[{ customer: 'u1', at: 4, amount: 15 }]], { live: true }),
        audit: memorySource([[]], { live: true }),
      },
      sinks: { net: net.connector, raw: memorySink().connector },
      follow: true,
      signal: controller.signal,
      pollInterval: 5,
    });
    await new Promise((r) => setTimeout(r, 150));
    controller.abort();
    await running;
    // orders reached t=100, but refunds is at 4 and audit has no events: nothing may fire yet.
    assert.deepEqual(net.values, []);
  });
});
