/**
 * (b) 1M events from the embedded Avro log (4 partitions, produced with `rtml produce`), keyed
 * tumbling count + sum: `rtml run` log -> file, its engine time taken from its summary line (process
 * start-up excluded), next to a decode-only pass over the same log in this process (the floor any
 * topology over this log pays). Best of 3 each. Prints one line.
 * Run: node --import tsx bench/log-run.ts [events]
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { RTML, ROOT, decodeOnlySeconds, producedLog } from './support.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const { dir, topic } = producedLog('b', n);

function runSeconds(): { seconds: number; results: number } {
  const r = spawnSync(RTML, ['run', join(ROOT, 'bench/tumbling.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${join(dir, 'out.jsonl')}`, '--no-progress'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const summary = r.stderr.trim().split('\n').pop() ?? '';
  const m = /events in ([\d,]+).*results out ([\d,]+), elapsed ([\d.]+)s/.exec(summary);
  if (r.status !== 0 || !m || Number(m[1]!.replace(/,/g, '')) !== n) throw new Error(`unexpected run: ${r.stderr}`);
  return { seconds: Number(m[3]), results: Number(m[2]!.replace(/,/g, '')) };
}

let decode = Infinity;
let run = { seconds: Infinity, results: 0 };
for (let i = 0; i < 3; i++) {
  decode = Math.min(decode, await decodeOnlySeconds(topic, n));
  const r = runSeconds();
  if (r.seconds < run.seconds) run = r;
}
const k = (s: number) => `${Math.round(n / s / 1000)}k ev/s`;
console.log(
  `(b) log ${n / 1e6}M Avro events, 4 partitions, keyed tumbling count+sum: rtml run ${run.seconds.toFixed(2)}s in the engine (${k(run.seconds)}, ` +
    `${run.results.toLocaleString('en-US')} results written), decode-only pass ${decode.toFixed(2)}s (${k(decode)}); ` +
    `run/decode-only speed ${(decode / run.seconds).toFixed(2)}x (target 1M ev/s on one core)`,
);
