/**
 * The baseline of bench/jsonl-run.ts: a hand-written loop doing what the topology does — parse JSON
 * lines, key by card, 1-minute tumbling count + sum with a 5 s out-of-order watermark, write each
 * window's result as a JSON line when the watermark passes its end — with no engine.
 * Run: node --import tsx bench/hand-loop.ts in.jsonl out.jsonl
 */
import { closeSync, createWriteStream, openSync, readSync } from 'node:fs';

const [input, output] = process.argv.slice(2) as [string, string];
const SIZE = 60_000;
const OUT_OF_ORDER = 5_000;
const out = createWriteStream(output);
const windows = new Map<number, Map<string, { n: number; total: number }>>();
let maxTs = -Infinity;
let buffer = '';

function fire(watermark: number): void {
  for (const [end, keys] of windows) {
    if (end > watermark) continue;
    for (const [key, acc] of keys) buffer += `${JSON.stringify({ key, window_start: end - SIZE, window_end: end, n: acc.n, total: acc.total })}\n`;
    windows.delete(end);
  }
  if (buffer.length > 1 << 16) {
    out.write(buffer);
    buffer = '';
  }
}

function take(line: string): void {
  if (line === '') return;
  const e = JSON.parse(line) as { card_id: string; amount: number; ts: number };
  const end = Math.floor(e.ts / SIZE) * SIZE + SIZE;
  if (end <= maxTs - OUT_OF_ORDER) return; // late
  let keys = windows.get(end);
  if (!keys) windows.set(end, (keys = new Map()));
  const acc = keys.get(e.card_id);
  if (acc) {
    acc.n++;
    acc.total += e.amount;
  } else keys.set(e.card_id, { n: 1, total: e.amount });
  if (e.ts > maxTs) {
    maxTs = e.ts;
    fire(maxTs - OUT_OF_ORDER);
  }
}
// Read in 1 MiB chunks and split into lines: the fastest plain way, no readline overhead.
const fd = openSync(input, 'r');
const chunk = Buffer.allocUnsafe(1 << 20);
let rest = '';
for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0; ) {
  const lines = (rest + chunk.toString('utf8', 0, n)).split('\n');
  rest = lines.pop()!;
  for (const line of lines) take(line);
}
take(rest);
closeSync(fd);
fire(Infinity);
out.end(buffer);
