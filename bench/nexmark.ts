/**
 * The Nexmark suite (bench/nexmark/qN.ts) over events generated in process: one line per query with
 * its events per second per core (events read / CPU seconds of the process, GC threads included)
 * and wall, its peak heap and its heap after GC half-way through the input and at its end (flat when
 * state is bounded), beside the published per-core figures of Flink 1.13 (nexmark/nexmark README)
 * and DBSP. Each query runs alone in a child process (its heap figures are its own), one after another.
 * A query reads only the kinds of event it uses (q1: the 92 % that are bids); Flink's figures
 * count every event of the stream.
 * Run: node --import tsx bench/nexmark.ts [--events 10000000] [--queries q0,q5]
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { isQueryName, QUERIES, type QueryName } from './nexmark/queries.ts';
import type { QueryFigures } from './nexmark/run-query.ts';
import { NODE_FLAGS, ROOT } from './support.ts';

/** Events/s per core: Flink 1.13 from the nexmark/nexmark README, DBSP from its Nexmark results. */
const FLINK: Record<QueryName, number> = { q0: 155e3, q1: 158e3, q2: 175e3, q3: 152e3, q4: 34e3, q5: 22e3, q7: 12e3, q8: 146e3, q9: 14e3, q11: 40e3 };
const DBSP: Partial<Record<QueryName, number>> = { q0: 1.17e6, q5: 868e3 };

const { values } = parseArgs({ options: { events: { type: 'string', default: '10000000' }, queries: { type: 'string', default: Object.keys(QUERIES).join(',') } } });
const events = Number(values.events);
const queries = values.queries.split(',').map((q) => q.trim());
for (const q of queries) if (!isQueryName(q)) throw new Error(`no Nexmark query ${q} (queries: ${Object.keys(QUERIES).join(', ')})`);

const rate = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${Math.round(n / 1e3)}k`);
const mb = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MB`;

for (const name of queries as QueryName[]) {
  const child = spawnSync(process.execPath, [...NODE_FLAGS, '--expose-gc', '--import', 'tsx', 'bench/nexmark/run-query.ts', name, String(events)], { cwd: ROOT, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`${name} failed (${child.status}): ${child.stderr}`);
  const f = JSON.parse(child.stdout.trim().split('\n').pop()!) as QueryFigures;
  const perCore = f.read / f.cpuSeconds;
  const beside = [`Flink 1.13 ${rate(FLINK[name])}/core: ${(perCore / FLINK[name]).toFixed(1)}x`];
  const dbsp = DBSP[name];
  if (dbsp !== undefined) beside.push(`DBSP ${rate(dbsp)}/core: ${(perCore / dbsp).toFixed(2)}x`);
  console.log(
    `nexmark ${name}: ${events.toLocaleString('en-US')} events, ${f.read.toLocaleString('en-US')} read (${QUERIES[name].join('+')}), ` +
      `${rate(perCore)} ev/s per core (${f.cpuSeconds.toFixed(1)} CPU s), ${rate(f.read / f.wallSeconds)} ev/s wall, ${f.results.toLocaleString('en-US')} results; ` +
      `heap peak ${mb(f.peakHeapBytes)}, after GC ${mb(f.halfHeapBytes)} half-way / ${mb(f.endHeapBytes)} at the end; ${beside.join(', ')}`,
  );
}
