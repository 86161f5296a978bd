// Child process of memory.test.ts (run with --expose-gc): pushes N generated events through a
// keyed tumbling aggregation and prints heap samples (after GC) as JSON on stdout.
import { InputRecord, type SinkConnector, type SourceConnector } from '../../engine/io.ts';
import { aggregate, count, defineTopology, keyBy, session, sum, tumbling, window } from '../../engine/index.ts';
import { runTopology } from '../../engine/runtime.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const kind = process.argv[3] ?? 'tumbling';
const gc = (globalThis as { gc?: () => void }).gc!;
const samples: { events: number; heapMB: number }[] = [];

const generated: SourceConnector = {
  uri: 'generated:',
  async open() {
    let next = 0;
    return {
      partitions: [0],
      async read(_p, max) {
        if (next >= total) return null;
        const out: InputRecord[] = [];
        for (; out.length < max && next < total; next++) {
          if (next % 100_000 === 0) {
            gc();
            samples.push({ events: next, heapMB: process.memoryUsage().heapUsed / 2 ** 20 });
          }
          out.push(new InputRecord(next, { card: `c${next % 1000}`, amount: next % 97, ts: next }));
        }
        return out;
      },
      progress: () => undefined,
      async close() {},
    };
  },
};

let results = 0;
const counting: SinkConnector = {
  uri: 'count:',
  async open() {
    return { pending: 0, write: () => void results++, flush: async () => {}, close: async () => {} };
  },
};

const topology = defineTopology('heap', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: 50 }).pipe(
    keyBy('card'),
    window(kind === 'session' ? session(500) : tumbling(1000), { lateness: 200 }),
    aggregate({ n: count(), total: sum('amount') }),
    sink('out'),
  ),
);

const stats = await runTopology(topology, { sources: { events: generated }, sinks: { out: counting } });
process.stdout.write(JSON.stringify({ samples, results, processed: stats.processed }));
