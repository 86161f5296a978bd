/**
 * Micro-benchmark of the embedded log's read path: appends 1M small Avro records (card_id,
 * merchant_id, amount, ts) to a fresh 4-partition topic, then reads and decodes them all through the
 * log source, as the engine does. Prints one line. Run: npx tsx bench/log-read.ts [events]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import avro from 'avsc';
import { EventLog } from '../connectors/log/eventLog.ts';
import { logSource } from '../connectors/log/source.ts';

const EVENTS = Number(process.argv[2] ?? 1_000_000);
const PARTITIONS = 4;
const BATCH = 4096;

const schema = {
  type: 'record',
  name: 'Txn',
  fields: [
    { name: 'card_id', type: 'string' },
    { name: 'merchant_id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'ts', type: 'long' },
  ],
};

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtml-log-bench-'));
  const topic = path.join(dir, 'txns');
  try {
    const type = avro.Type.forSchema(schema as avro.Schema);
    const scratch = Buffer.allocUnsafe(256);
    const writeStart = performance.now();
    const log = EventLog.open(topic, { create: { partitions: PARTITIONS } });
    const id = log.registerSchema(schema);
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < EVENTS; i++) {
      const card = `card-${i % 10_000}`;
      const txn = { card_id: card, merchant_id: `m-${i % 500}`, amount: (i % 1000) / 10, ts: t0 + i };
      const end = type.encode(txn, scratch, 0);
      log.append(card, txn.ts, id, scratch.subarray(0, end));
    }
    log.close();
    const writeMs = performance.now() - writeStart;

    const readStart = performance.now();
    const reader = await logSource(topic).open({ from: 'earliest', follow: false, readerSchema: type });
    let read = 0;
    let errors = 0;
    const live = new Set(reader.partitions);
    while (live.size > 0) {
      for (const p of [...live]) {
        const batch = await reader.read(p, BATCH);
        if (batch === null) {
          live.delete(p);
          continue;
        }
        read += batch.length;
        for (const r of batch) if (r.error !== undefined) errors++;
      }
    }
    await reader.close();
    const readMs = performance.now() - readStart;
    if (read !== EVENTS || errors !== 0) throw new Error(`read ${read} records (${errors} errors), expected ${EVENTS}`);
    const perSec = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');
    console.log(
      `log-read: ${perSec(read, readMs)} events/s reading+decoding ${EVENTS.toLocaleString('en-US')} Avro records from ${PARTITIONS} partitions (${readMs.toFixed(0)} ms; append+fsync ${perSec(EVENTS, writeMs)} events/s)`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
