/**
 * Writes Nexmark events to the embedded log: topics `person`, `auction` and `bid` under --log DIR,
 * Avro-encoded with schemas/nexmark/*.avsc, keyed by person id, auction id and the bid's auction,
 * stamped with their dateTime. `rtml run bench/nexmark/qN.ts --source bid=log:DIR/bid …` reads them.
 * Run: node --import tsx bench/nexmark/generate.ts --events N [--seed S] [--rate R] [--partitions P] --log DIR
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EventLog, eventEncoder } from '../../connectors/log/index.ts';
import { loadSchema, schemaDefinition } from '../../engine/avro.ts';
import { DEFAULT_RATE, DEFAULT_SEED, NexmarkGenerator, type EventKind } from './generator.ts';

const SCHEMAS = fileURLToPath(new URL('../../schemas/nexmark/', import.meta.url));
const KEYS: Record<EventKind, string> = { person: 'id', auction: 'id', bid: 'auction' };

const { values } = parseArgs({
  options: {
    events: { type: 'string' },
    seed: { type: 'string', default: String(DEFAULT_SEED) },
    rate: { type: 'string', default: String(DEFAULT_RATE) },
    partitions: { type: 'string', default: '1' },
    log: { type: 'string' },
  },
});
if (values.events === undefined || values.log === undefined) {
  process.stderr.write('usage: generate.ts --events N [--seed S] [--rate EVENTS_PER_S] [--partitions P] --log DIR\n');
  process.exit(2);
}
const generator = new NexmarkGenerator({ events: Number(values.events), seed: Number(values.seed), rate: Number(values.rate) });
const partitions = Number(values.partitions);

const topics = new Map<EventKind, { log: EventLog; schemaId: number; encode: ReturnType<typeof eventEncoder>; appended: number }>();
for (const kind of Object.keys(KEYS) as EventKind[]) {
  const type = loadSchema(`${kind}.avsc`, [SCHEMAS], `schema of ${kind}`);
  const log = EventLog.open(join(values.log, kind), { create: { partitions } });
  topics.set(kind, { log, schemaId: log.registerSchema(schemaDefinition(type)), encode: eventEncoder(type, KEYS[kind], 'dateTime'), appended: 0 });
}
try {
  for (let id = 0; id < generator.events; id++) {
    const { kind, event } = generator.event(id);
    const topic = topics.get(kind)!;
    const encoded = topic.encode(event);
    if ('reason' in encoded) throw new Error(`event ${id} (${kind}) does not fit its schema: ${encoded.reason}`);
    topic.log.append(encoded.key, encoded.time, topic.schemaId, encoded.payload);
    topic.appended++;
  }
} finally {
  for (const { log } of topics.values()) log.close();
}
const counts = [...topics].map(([kind, t]) => `${t.appended.toLocaleString('en-US')} ${kind}`).join(', ');
process.stderr.write(`nexmark: ${generator.events.toLocaleString('en-US')} events (${counts}) written to ${values.log}, seed ${generator.seed}\n`);
