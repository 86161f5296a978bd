/**
 * Checkpoint cost: `rtml run` over 3M events in the embedded log (keyed tumbling count + sum over
 * 100k cards, so ~60k windows are open at a time and a checkpoint holds megabytes) with a checkpoint
 * every second, and every 250 ms, against the same run without checkpoints; engine time from the
 * summary lines, runs alternated, best of 3 each. Prints one line.
 * Run: node --import tsx bench/checkpoint-cost.ts [events]
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { RTML, ROOT, producedLog } from './support.ts';

const n = Number(process.argv[2] ?? 3_000_000);
const { dir, topic } = producedLog('ckpt', n, 100_000);

function run(interval: string | undefined): { seconds: number; count: number; bytes: number; ms: number } {
  const ckptDir = join(dir, 'checkpoints');
  rmSync(ckptDir, { recursive: true, force: true });
  const args = ['run', join(ROOT, 'bench/tumbling.ts'), '--source', `events=log:${topic}`, '--sink', `out=file:${join(dir, 'out.jsonl')}`, '--no-progress'];
  if (interval !== undefined) args.push('--checkpoint-dir', ckptDir, '--checkpoint-interval', interval);
  const r = spawnSync(RTML, args, { cwd: ROOT, encoding: 'utf8' });
  const summary = r.stderr.trim().split('\n').pop() ?? '';
  const m = /elapsed ([\d.]+)s/.exec(summary);
  if (r.status !== 0 || !m) throw new Error(`run failed: ${r.stderr}`);
  const c = /checkpoints ([\d,]+) \(last ([\d,]+) bytes in ([\d.]+) ms\)/.exec(summary);
  const num = (s: string | undefined) => Number((s ?? '0').replace(/,/g, ''));
  return { seconds: Number(m[1]), count: num(c?.[1]), bytes: num(c?.[2]), ms: Number(c?.[3] ?? 0) };
}

const intervals = ['1s', '250ms'] as const;
let plain = Infinity;
const best = new Map(intervals.map((i) => [i, { seconds: Infinity, count: 0, bytes: 0, ms: 0 }]));
for (let round = 0; round < 3; round++) {
  plain = Math.min(plain, run(undefined).seconds);
  for (const interval of intervals) {
    const c = run(interval);
    if (c.seconds < best.get(interval)!.seconds) best.set(interval, c);
  }
}
const k = (s: number) => `${Math.round(n / s / 1000)}k ev/s`;
const slowdown = (s: number) => `${((s / plain - 1) * 100).toFixed(1)} %`;
console.log(
  `checkpoint cost, ${n / 1e6}M log events over 100k cards: none ${plain.toFixed(2)}s (${k(plain)}); ` +
    intervals
      .map((i) => {
        const c = best.get(i)!;
        return `every ${i} ${c.seconds.toFixed(2)}s (${k(c.seconds)}, ${c.count} checkpoints, last ${c.bytes.toLocaleString('en-US')} bytes in ${c.ms} ms): slowdown ${slowdown(c.seconds)}`;
      })
      .join('; ') +
    ' (target <= 10 % at 1s)',
);
