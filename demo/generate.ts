/**
 * Sample card transactions for the demo, as JSON lines on stdout (schemas/transaction.avsc).
 * Each card shops at a few usual merchants; now and then a card has a burst of large payments at
 * merchants it never used (the windowed behaviour the card-activity features pick up). Arrival is
 * a little out of order, and a few events arrive very late. Seeded: the same flags, the same events.
 *
 *   node --import tsx demo/generate.ts --events 100000 --cards 500 --seed 1 [--labels labels.jsonl] > transactions.jsonl
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    cards: { type: 'string', default: '500' },
    seed: { type: 'string', default: '1' },
    start: { type: 'string', default: '1767225600000' }, // 2026-01-01T00:00:00Z
    labels: { type: 'string' }, // also write { entity, time, txn_id, is_fraud } per transaction here
  },
});
const total = Number(values.events);
const cards = Number(values.cards);
let state = Number(values.seed) >>> 0;
/** mulberry32 */
function rand(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (n: number) => Math.floor(rand() * n);

const usual = Array.from({ length: cards }, () => Array.from({ length: 3 }, () => `m${pick(400)}`));
let now = Number(values.start);
let burst: { card: number; left: number } | undefined;
const out: string[] = [];
const labels = values.labels === undefined ? undefined : createWriteStream(values.labels);
const labelLines: string[] = [];
for (let i = 0; i < total; i++) {
  now += pick(60); // ~33 events per second across all cards
  let card = pick(cards);
  let merchant = usual[card]![pick(3)]!;
  let amount = Math.round((5 + rand() * 120) * 100) / 100;
  if (!burst && rand() < 0.0005) burst = { card, left: 4 + pick(6) };
  let fraud = 0;
  if (burst && rand() < 0.3) {
    fraud = 1;
    card = burst.card;
    merchant = `new-${pick(100_000)}`;
    amount = Math.round((300 + rand() * 1500) * 100) / 100;
    if (--burst.left === 0) burst = undefined;
  }
  const r = rand();
  const ts = r < 0.002 ? now - 40_000 - pick(60_000) : now - (r < 0.2 ? pick(3000) : 0);
  out.push(JSON.stringify({ txn_id: `t${i}`, card_id: `card-${card}`, merchant_id: merchant, amount, ts }));
  if (labels) labelLines.push(JSON.stringify({ entity: `card-${card}`, time: ts, txn_id: `t${i}`, is_fraud: fraud }));
  if (out.length === 10_000) {
    process.stdout.write(`${out.join('\n')}\n`);
    labels?.write(`${labelLines.join('\n')}\n`);
    out.length = labelLines.length = 0;
  }
}
if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
if (labelLines.length > 0) labels?.write(`${labelLines.join('\n')}\n`);
labels?.end();
