import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logSource } from '../connectors/log/source.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));

/** Writes `n` card events as JSON lines: `keys` cards, event time moving 1 ms per event, ~2 % of them up to 3 s out of order. */
export function writeEvents(path: string, n: number, keys = 1000): void {
  const chunks: string[] = [];
  let seed = 42;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < n; i++) {
    const ts = 1_700_000_000_000 + i - (rand() < 0.02 ? Math.floor(rand() * 3000) : 0);
    chunks.push(`{"txn_id":"t${i}","card_id":"c${Math.floor(rand() * keys)}","merchant_id":"m${i % 500}","amount":${(rand() * 500).toFixed(2)},"ts":${ts}}\n`);
  }
  writeFileSync(path, chunks.join(''));
}

/** Best wall time of `runs` executions of a command, in seconds (its output is discarded). */
export function bestSeconds(runs: number, command: string, args: string[]): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    execFileSync(command, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return best;
}

/** The V8 flag the rtml command (bin/rtml) runs stream processing with; baselines get it too, so the code is compared, not flags. */
export const NODE_FLAGS = ['--max-semi-space-size=64'];
/** What bin/rtml runs `rtml serve` with: a smaller young generation than V8's default (bench/serve.ts --rtml-node-flags compares). */
export const SERVE_NODE_FLAGS = ['--max-semi-space-size=8'];

export function rate(n: number, seconds: number): string {
  return `${Math.round(n / seconds / 1000)}k ev/s`;
}

/**
 * A fresh folder holding `n` events (writeEvents) appended with `rtml produce` to a 4-partition
 * embedded log topic, Avro-encoded with schemas/transaction.avsc.
 */
export function producedLog(name: string, n: number, keys?: number): { dir: string; topic: string; input: string } {
  const dir = mkdtempSync(join(tmpdir(), `rtml-bench-${name}-`));
  const input = join(dir, 'events.jsonl');
  writeEvents(input, n, keys);
  const topic = join(dir, 'txns');
  execFileSync(process.execPath, [RTML, 'produce', `log:${topic}`, '--schema', 'schemas/transaction.avsc', '--key', 'card_id', '--partitions', '4'], {
    cwd: ROOT,
    input: readFileSync(input),
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  return { dir, topic, input };
}

/**
 * Seconds to read and decode all `n` records of a log topic: the floor a run over it compares with
 * (in the bench's own process, started with the same flags as bin/rtml.mjs).
 */
export async function decodeOnlySeconds(topic: string, n: number): Promise<number> {
  const t = performance.now();
  const reader = await logSource(topic).open({ from: 'earliest', follow: false, readerSchema: undefined });
  let read = 0;
  const live = new Set(reader.partitions);
  while (live.size > 0) {
    for (const p of [...live]) {
      const batch = await reader.read(p, 4096);
      if (batch === null) live.delete(p);
      else read += batch.length;
    }
  }
  await reader.close();
  if (read !== n) throw new Error(`decoded ${read} of ${n}`);
  return (performance.now() - t) / 1000;
}
