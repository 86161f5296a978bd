import type { Type } from 'avsc';
import { errorMessage } from '../../engine/errors.ts';
import { InputRecord } from '../../engine/io.ts';
import type { RecordView } from './recordFormat.ts';
import { JSON_SCHEMA_ID, type SchemaRegistry } from './schemaRegistry.ts';

type Resolver = ReturnType<Type['createResolver']>;

/** How records written with one schema id are decoded: a type (and resolver), or why they cannot be. */
interface WriterEntry {
  readonly type: Type | undefined;
  readonly resolver: Resolver | undefined;
  readonly error: string | undefined;
}

/** An unknown schema id makes the registry reload at most this often (it may have just been added). */
const RELOAD_INTERVAL_MS = 1000;

/**
 * Turns log records into `InputRecord`s:
 *
 * 1. Schema id 0: the payload is UTF-8 JSON text, parsed with `JSON.parse`.
 * 2. Avro: decoded in place from the read buffer with the reader type, through a resolver from the
 *    record's writer schema (built on first use and cached per id; none when both are the same
 *    canonical schema). Without a reader type, records are decoded with their writer schema.
 *    Each value carries the type it was decoded to (InputRecord.schema): the engine validates the
 *    others (JSON) against a declared schema, and reads a timestamp-micros time field by it.
 * 3. A record that cannot be decoded (its writer schema cannot be resolved to the reader schema, the
 *    bytes are not valid, or not all of them are consumed) becomes an error record carrying the
 *    reason and the payload (base64 for Avro, the text for JSON), for the dead-letter output.
 */
export class PayloadDecoder {
  private readonly entries = new Map<number, WriterEntry>();
  private readonly readerFingerprint: string | undefined;
  private lastReload = Number.NEGATIVE_INFINITY;
  /** The entry of the previous record's schema id: a topic is mostly written with one schema. */
  private lastId = -1;
  private lastEntry: WriterEntry | undefined;

  constructor(
    private readonly schemas: SchemaRegistry,
    private readonly reader: Type | undefined,
  ) {
    this.readerFingerprint = reader?.fingerprint().toString('hex');
  }

  decode(record: RecordView): InputRecord {
    const { buf, offset, timestamp, payloadStart, payloadEnd, schemaId } = record;
    if (schemaId === JSON_SCHEMA_ID) {
      return InputRecord.fromJson(offset, buf.toString('utf8', payloadStart, payloadEnd), timestamp);
    }
    let entry = this.lastEntry;
    if (schemaId !== this.lastId || entry === undefined) {
      entry = this.entries.get(schemaId) ?? this.entry(schemaId);
      if (this.entries.has(schemaId)) {
        this.lastId = schemaId;
        this.lastEntry = entry;
      }
    }
    if (entry.type === undefined) return failed(record, entry.error ?? 'cannot decode');
    let end: number;
    let value: unknown;
    try {
      const decoded = entry.type.decode(buf, payloadStart, entry.resolver);
      end = decoded.offset;
      value = decoded.value;
    } catch (err) {
      return failed(record, `invalid Avro payload for schema ${schemaId}: ${errorMessage(err)}`);
    }
    if (end !== payloadEnd) {
      const what = end < 0 || end > payloadEnd ? 'is truncated' : `has ${payloadEnd - end} byte(s) left over`;
      return failed(record, `invalid Avro payload for schema ${schemaId}: the ${payloadEnd - payloadStart}-byte payload ${what}`);
    }
    return new InputRecord(offset, value, undefined, undefined, timestamp, entry.type);
  }

  private entry(schemaId: number): WriterEntry {
    let writer = this.schemas.get(schemaId);
    if (writer === undefined) {
      const now = performance.now();
      if (now - this.lastReload < RELOAD_INTERVAL_MS) return unknownSchema(schemaId);
      this.lastReload = now;
      this.schemas.reload();
      writer = this.schemas.get(schemaId);
      if (writer === undefined) return unknownSchema(schemaId);
    }
    const entry = this.resolve(schemaId, writer);
    this.entries.set(schemaId, entry);
    return entry;
  }

  private resolve(schemaId: number, writer: Type): WriterEntry {
    const reader = this.reader;
    if (reader === undefined || writer.fingerprint().toString('hex') === this.readerFingerprint) {
      return { type: reader ?? writer, resolver: undefined, error: undefined };
    }
    try {
      return { type: reader, resolver: reader.createResolver(writer), error: undefined };
    } catch (err) {
      const name = writer.name ?? writer.typeName;
      const error = `schema mismatch: written with schema ${schemaId} (${name}), which the reader schema (${reader.name ?? reader.typeName}) cannot read: ${errorMessage(err)}`;
      return { type: undefined, resolver: undefined, error };
    }
  }
}

function unknownSchema(schemaId: number): WriterEntry {
  return { type: undefined, resolver: undefined, error: `unknown schema id ${schemaId}: the topic has no schemas/${schemaId}.avsc` };
}

function failed(record: RecordView, reason: string): InputRecord {
  const raw = record.buf.toString('base64', record.payloadStart, record.payloadEnd);
  return new InputRecord(record.offset, undefined, reason, raw, record.timestamp);
}
