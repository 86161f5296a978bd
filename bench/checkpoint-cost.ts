/**
 * Checkpoint cost: `rtml run` over 3M events in the embedded log (keyed tumbling count + sum, 1000
 * cards) with a checkpoint every second against the same run without checkpoints, engine time from
 * the summary lines, runs alternated, best of 3 each. Prints one line.
 * Run: node --import tsx bench/checkpoint-cost.ts [events]
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { RTML, ROOT, producedLog } from './support.ts';

const n = Number(process.argv[2] ?? 3_000_000);
const { dir, topic } = producedLog('ckpt', n);

function run(checkpoints: boolean): { seconds: number; count: number; bytes: number; ms: number } {
  const ckptDir = join(dir, 'checkpoints');
  rmSync(ckptDir, { recursive: true, force: true });
  const args = ['run', join(ROOT, 'bench/tumbling.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${join(dir, 'out.jsonl')}`, '--no-progress'];
  if (checkpoints) args.push('--checkpoint-dir', ckptDir, '--checkpoint-interval', '1s');
  const r = spawnSync(RTML, args, { cwd: ROOT, encoding: 'utf8' });
  const summary = r.stderr.trim().split('\n').pop() ?? '';
  const m = /elapsed ([\d.]+)s/.exec(summary);
  if (r.status !== 0 || !m) throw new Error(`run failed: ${r.stderr}`);
  const c = /checkpoints ([\d,]+) \(last ([\d,]+) bytes in ([\d.]+) ms\)/.exec(summary);
  const num = (s: string | undefined) => Number((s ?? '0').replace(/,/g, ''));
  return { seconds: Number(m[1]), count: num(c?.[1]), bytes: num(c?.[2]), ms: Number(c?.[3] ?? 0) };
}

let plain = Infinity;
let withCheckpoints = { seconds: Infinity, count: 0, bytes: 0, ms: 0 };
for (let i = 0; i < 3; i++) {
  plain = Math.min(plain, run(false).seconds);
  const c = run(true);
  if (c.seconds < withCheckpoints.seconds) withCheckpoints = c;
}
const k = (s: number) => `${Math.round(n / s / 1000)}k ev/s`;
console.log(
  `checkpoint cost, ${n / 1e6}M log events: every 1s ${withCheckpoints.seconds.toFixed(2)}s (${k(withCheckpoints.seconds)}, ${withCheckpoints.count} checkpoints, last ${withCheckpoints.bytes.toLocaleString('en-US')} bytes in ${withCheckpoints.ms} ms), ` +
    `none ${plain.toFixed(2)}s (${k(plain)}); slowdown ${((withCheckpoints.seconds / plain - 1) * 100).toFixed(1)} % (target <= 10 %)`,
);
