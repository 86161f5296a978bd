/**
 * (a) 1M JSON-lines events, keyed tumbling count + sum: `rtml run` file -> file against a hand-written
 * loop doing the same parse / aggregate / write, both as whole processes, best of 3, same run.
 * Prints one line. Run: node --import tsx bench/jsonl-run.ts [events]
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bestSeconds, NODE_FLAGS, rate, RTML, ROOT, writeEvents } from './support.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-a-'));
const input = join(dir, 'events.jsonl');
writeEvents(input, n);

const loop = bestSeconds(3, process.execPath, [...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench/hand-loop.ts'), input, join(dir, 'loop.jsonl')]);
const rtml = bestSeconds(3, RTML, ['run', join(ROOT, 'bench/tumbling.ts'), '--source', `events=file:${input}`, '--sink', `out=file:${join(dir, 'rtml.jsonl')}`, '--no-progress']);
const lines = (f: string) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length;
const same = lines('loop.jsonl') === lines('rtml.jsonl') ? 'same result count' : `RESULT COUNTS DIFFER (${lines('loop.jsonl')} vs ${lines('rtml.jsonl')})`;
console.log(
  `(a) jsonl ${n / 1e6}M events keyed tumbling count+sum: rtml run ${rtml.toFixed(2)}s (${rate(n, rtml)}), hand loop ${loop.toFixed(2)}s (${rate(n, loop)}), ` +
    `rtml/loop speed ${(loop / rtml).toFixed(2)}x (target >= 0.5x), ${same}`,
);
