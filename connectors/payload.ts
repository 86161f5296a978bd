import type { Type } from 'avsc';
import { errorMessage } from '../engine/errors.ts';
import { InputRecord } from '../engine/io.ts';

/**
 * Payload decoding for every source, in one place: a message's bytes become an InputRecord — its
 * value, or a dead letter with the reason and the payload (the text for JSON, base64 for Avro).
 * Bad input is data, never a throw (docs/semantics.md, bad input), and its reason reads the same
 * whichever transport carried it.
 *
 * A source reads JSON unless the topology declares a reader schema; then it reads Avro in its
 * transport's wire format (`sourcePayloads`): bare Avro written with that schema (Kinesis, Pub/Sub),
 * the Confluent wire format (Kafka, see kafka/wireFormat.ts), or the log's per-record schema id
 * (see log/payloadDecoder.ts, which reads JSON or Avro record by record).
 */

export type AvroResolver = ReturnType<Type['createResolver']>;

/**
 * One payload as a source read it: `buf[payloadStart, payloadEnd)`, its position in the partition
 * and the transport's timestamp (NaN: none). The log's RecordView is one, so log records are
 * decoded in place from the read buffer.
 */
export interface Payload {
  readonly buf: Buffer;
  readonly payloadStart: number;
  readonly payloadEnd: number;
  readonly offset: number;
  readonly timestamp: number;
}

/** How a source's payloads are decoded. */
export interface PayloadFormat {
  decode(payload: Payload): InputRecord;
}

/** How a payload's Avro bytes are read: as `type` (through `resolver` from the writer schema), or why they cannot be. */
export type AvroReading =
  | { readonly type: Type; readonly resolver: AvroResolver | undefined; readonly error?: undefined }
  | { readonly error: string };

/** A whole message's bytes as a payload. */
export function payloadOf(bytes: Buffer, offset: number, timestamp: number): Payload {
  return { buf: bytes, payloadStart: 0, payloadEnd: bytes.length, offset, timestamp };
}

/** JSON text: its value, or a dead letter with the parser's reason. */
export function jsonRecord(offset: number, text: string, timestamp = Number.NaN): InputRecord {
  try {
    return new InputRecord(offset, JSON.parse(text), undefined, undefined, timestamp);
  } catch (err) {
    return new InputRecord(offset, undefined, `invalid JSON: ${errorMessage(err)}`, text, timestamp);
  }
}

/** UTF-8 JSON payloads. */
export const JSON_PAYLOADS: PayloadFormat = {
  decode: (p) => jsonRecord(p.offset, p.buf.toString('utf8', p.payloadStart, p.payloadEnd), p.timestamp),
};

/**
 * The Avro body of a payload (from `bodyStart`: after a wire-format header) read as `reading` says.
 * A failure's reason starts with `failure` (`invalid Avro payload for schema <id or name>`). Every
 * byte must be consumed: a body the type reads past or short of its end is not one value of that
 * type. The record carries the type (InputRecord.schema).
 */
export function avroRecord(payload: Payload, reading: AvroReading, failure: string, bodyStart = payload.payloadStart): InputRecord {
  if (reading.error !== undefined) return undecodable(payload, reading.error);
  const { buf, payloadEnd } = payload;
  let end: number;
  let value: unknown;
  try {
    const decoded = reading.type.decode(buf, bodyStart, reading.resolver);
    end = decoded.offset;
    value = decoded.value;
  } catch (err) {
    return undecodable(payload, `${failure}: ${errorMessage(err)}`);
  }
  if (end !== payloadEnd) {
    const what = end < 0 || end > payloadEnd ? 'is truncated' : `has ${payloadEnd - end} byte(s) left over`;
    return undecodable(payload, `${failure}: the ${payloadEnd - bodyStart}-byte payload ${what}`);
  }
  return new InputRecord(payload.offset, value, undefined, undefined, payload.timestamp, reading.type);
}

/**
 * Reading Avro written with schema `id` (`writer`) as `reader` (undefined: as written). `resolve`
 * gives the resolver from writer to reader, undefined when the two are the same schema.
 */
export function avroReading(id: number, writer: Type, reader: Type | undefined, resolve: (reader: Type, writer: Type) => AvroResolver | undefined): AvroReading {
  if (reader === undefined) return { type: writer, resolver: undefined };
  try {
    return { type: reader, resolver: resolve(reader, writer) };
  } catch (err) {
    const error = `schema mismatch: written with schema ${id} (${schemaName(writer)}), which the reader schema (${schemaName(reader)}) cannot read: ${errorMessage(err)}`;
    return { error };
  }
}

/** A payload that cannot be decoded, with the reason; the bytes kept as base64. */
export function undecodable(payload: Payload, reason: string): InputRecord {
  const raw = payload.buf.toString('base64', payload.payloadStart, payload.payloadEnd);
  return new InputRecord(payload.offset, undefined, reason, raw, payload.timestamp);
}

/** A message without a payload at all (a Kafka tombstone). */
export function emptyMessage(offset: number, timestamp: number): InputRecord {
  return new InputRecord(offset, undefined, 'empty message (null value)', '', timestamp);
}

/**
 * Bare Avro binary written with `type` itself: the transport carries no schema id (Kinesis, Pub/Sub).
 * `failure` starts a failure's reason (see avroRecord).
 */
export function bareAvroPayloads(type: Type, failure = `invalid Avro payload for schema ${schemaName(type)}`): PayloadFormat {
  const reading: AvroReading = { type, resolver: undefined };
  return { decode: (p) => avroRecord(p, reading, failure) };
}

/** What a source reads: JSON, unless the topology declares a reader schema; then Avro in the transport's wire format. */
export function sourcePayloads(reader: Type | undefined, avro: (reader: Type) => PayloadFormat): PayloadFormat {
  return reader === undefined ? JSON_PAYLOADS : avro(reader);
}

export function schemaName(type: Type): string {
  return type.name ?? String(type.typeName);
}
