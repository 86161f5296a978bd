import type { Type } from 'avsc';
import { InputRecord } from '../../engine/io.ts';
import { avroReading, avroRecord, JSON_PAYLOADS, type AvroReading, type PayloadFormat } from '../payload.ts';
import type { RecordView } from './recordFormat.ts';
import { JSON_SCHEMA_ID, type SchemaRegistry } from './schemaRegistry.ts';

/** An unknown schema id makes the registry reload at most this often (it may have just been added). */
const RELOAD_INTERVAL_MS = 1000;

/**
 * The log's wire format: each record says how its payload is written (its schema id), and is
 * decoded in place from the read buffer (connectors/payload.ts decides the record or dead letter):
 *
 * 1. Schema id 0: the payload is UTF-8 JSON text.
 * 2. Avro: read with the reader type, through a resolver from the record's writer schema (built on
 *    first use and cached per id; none when both are the same canonical schema). Without a reader
 *    type, records are decoded with their writer schema. Each value carries the type it was decoded
 *    to (InputRecord.schema): the engine validates the others (JSON) against a declared schema, and
 *    reads a timestamp-micros time field by it.
 * 3. A writer schema the reader cannot resolve, or an id the topic has no schema for, makes a dead
 *    letter, as do bytes that are not one value of the type.
 */
export class PayloadDecoder implements PayloadFormat {
  private readonly readings = new Map<number, AvroReading>();
  private readonly readerFingerprint: string | undefined;
  private lastReload = Number.NEGATIVE_INFINITY;
  /** The reading of the previous record's schema id: a topic is mostly written with one schema. */
  private lastId = -1;
  private lastReading: AvroReading | undefined;

  constructor(
    private readonly schemas: SchemaRegistry,
    private readonly reader: Type | undefined,
  ) {
    this.readerFingerprint = reader?.fingerprint().toString('hex');
  }

  decode(record: RecordView): InputRecord {
    const schemaId = record.schemaId;
    if (schemaId === JSON_SCHEMA_ID) return JSON_PAYLOADS.decode(record);
    let reading = this.lastReading;
    if (schemaId !== this.lastId || reading === undefined) {
      reading = this.readings.get(schemaId) ?? this.reading(schemaId);
      if (this.readings.has(schemaId)) {
        this.lastId = schemaId;
        this.lastReading = reading;
      }
    }
    return avroRecord(record, reading, `invalid Avro payload for schema ${schemaId}`);
  }

  private reading(schemaId: number): AvroReading {
    let writer = this.schemas.get(schemaId);
    if (writer === undefined) {
      const now = performance.now();
      if (now - this.lastReload < RELOAD_INTERVAL_MS) return unknownSchema(schemaId);
      this.lastReload = now;
      this.schemas.reload();
      writer = this.schemas.get(schemaId);
      if (writer === undefined) return unknownSchema(schemaId);
    }
    const reading = avroReading(schemaId, writer, this.reader, (reader, writer) =>
      writer.fingerprint().toString('hex') === this.readerFingerprint ? undefined : reader.createResolver(writer),
    );
    this.readings.set(schemaId, reading);
    return reading;
  }
}

function unknownSchema(schemaId: number): AvroReading {
  return { error: `unknown schema id ${schemaId}: the topic has no schemas/${schemaId}.avsc` };
}
