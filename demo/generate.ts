/**
 * Sample card transactions for the demo, as JSON lines on stdout (schemas/transaction.avsc).
 * Each card shops now and then at a few usual merchants. Now and then a card is hit by fraud: a burst
 * of payments at merchants it never used, a few seconds apart, for about a minute. Fraud amounts
 * overlap ordinary ones, so a model needs the windowed behaviour (how many payments, how many
 * merchants in the last minute) to tell them apart. Arrival is a little out of order, and a few
 * events arrive very late. Seeded: the same flags, the same events.
 *
 *   node --import tsx demo/generate.ts --events 100000 --cards 500 --seed 1 [--fraud-rate 0.002] [--labels labels.jsonl]
 *     [--outcomes outcomes.jsonl] [--shift-at <epoch ms>] > transactions.jsonl
 *
 * Labels are `{ entity, time, txn_id, amount, is_fraud }` with `time` 1 ms before the transaction:
 * a training set joins each with the features as of just before it, as scoring sees them.
 * Outcomes are the same facts as production learns them: `{ txn_id, is_fraud, ts }`, `ts` 1 to 30
 * minutes after the payment (a chargeback, a customer's confirmation), for online accuracy.
 *
 * From `--shift-at` on, the world changes (the holidays): people spend more (5–400 instead of
 * 5–150), and fraudsters switch to card testing — runs of small payments (1–30) at the card's
 * own usual merchants, 10–25 s apart — which a model trained on the old bursts at new merchants
 * does not recognise.
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { mulberry32 } from '../models/training/index.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    cards: { type: 'string', default: '500' },
    seed: { type: 'string', default: '1' },
    start: { type: 'string', default: '1767225600000' }, // 2026-01-01T00:00:00Z
    labels: { type: 'string' },
    // Chance that a payment starts a fraud burst on some card.
    'fraud-rate': { type: 'string', default: '0.002' },
    outcomes: { type: 'string' },
    'shift-at': { type: 'string' },
  },
});
const total = Number(values.events);
const cards = Number(values.cards);
const fraudRate = Number(values['fraud-rate']);
const rand = mulberry32(Number(values.seed));
const pick = (n: number) => Math.floor(rand() * n);
const cents = (x: number) => Math.round(x * 100) / 100;

interface Txn {
  card: number;
  merchant: string;
  amount: number;
  ts: number;
  fraud: 0 | 1;
}

const usual = Array.from({ length: cards }, () => Array.from({ length: 3 }, () => `m${pick(400)}`));
/** Fraud payments scheduled ahead, by time. */
const scheduled: Txn[] = [];
let now = Number(values.start);
const out: string[] = [];
const labels = values.labels === undefined ? undefined : createWriteStream(values.labels);
const labelLines: string[] = [];
const outcomes = values.outcomes === undefined ? undefined : createWriteStream(values.outcomes);
/** Outcomes are written at the end, in the order they become known (their time). */
const outcomeRows: { txn_id: string; is_fraud: 0 | 1; ts: number }[] = [];
const shiftAt = values['shift-at'] === undefined ? Infinity : Number(values['shift-at']);
// Outcome delays from their own stream: asking for outcomes does not change the transactions.
const delays = mulberry32(Number(values.seed) + 1);

function emit(txn: Txn, id: number): void {
  const r = rand();
  // Mostly in order, 20 % up to 3 s late, 0.2 % very late (40-100 s).
  const ts = r < 0.002 ? txn.ts - 40_000 - pick(60_000) : txn.ts - (r < 0.2 ? pick(3000) : 0);
  out.push(JSON.stringify({ txn_id: `t${id}`, card_id: `card-${txn.card}`, merchant_id: txn.merchant, amount: txn.amount, ts }));
  if (labels) labelLines.push(JSON.stringify({ entity: `card-${txn.card}`, time: ts - 1, txn_id: `t${id}`, amount: txn.amount, is_fraud: txn.fraud }));
  if (outcomes) outcomeRows.push({ txn_id: `t${id}`, is_fraud: txn.fraud, ts: ts + 60_000 + Math.floor(delays() * 29 * 60_000) });
  if (out.length === 10_000) flush();
}

function flush(): void {
  if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
  if (labelLines.length > 0) labels?.write(`${labelLines.join('\n')}\n`);
  out.length = labelLines.length = 0;
}

for (let id = 0; id < total; id++) {
  now += pick(60); // ~33 events per second across all cards
  const shifted = now >= shiftAt;
  if (rand() < fraudRate) {
    const card = pick(cards);
    let at = now;
    if (!shifted) {
      // A fraud burst: 5-10 payments at new merchants, 3-12 s apart.
      for (let k = 5 + pick(6); k > 0; k--) {
        at += 3000 + pick(9000);
        scheduled.push({ card, merchant: `new-${pick(1_000_000)}`, amount: cents(20 + rand() * 230), ts: at, fraud: 1 });
      }
    } else {
      // Card testing: 6-12 small payments at the card's usual merchants, 10-25 s apart.
      for (let k = 6 + pick(7); k > 0; k--) {
        at += 10_000 + pick(15_000);
        scheduled.push({ card, merchant: usual[card]![pick(3)]!, amount: cents(1 + rand() * 29), ts: at, fraud: 1 });
      }
    }
    scheduled.sort((a, b) => a.ts - b.ts);
  }
  if (scheduled.length > 0 && scheduled[0]!.ts <= now) {
    emit(scheduled.shift()!, id);
    continue;
  }
  const card = pick(cards);
  emit({ card, merchant: usual[card]![pick(3)]!, amount: cents(5 + rand() * (shifted ? 395 : 150)), ts: now, fraud: 0 }, id);
}
flush();
labels?.end();
if (outcomes) {
  outcomeRows.sort((a, b) => a.ts - b.ts);
  for (const row of outcomeRows) outcomes.write(`${JSON.stringify(row)}\n`);
  outcomes.end();
}
