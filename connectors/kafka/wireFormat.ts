import type { Type } from 'avsc';
import { errorMessage, RtmlError } from '../../engine/errors.ts';
import type { InputRecord } from '../../engine/io.ts';
import { avroReading, avroRecord, undecodable, type AvroReading, type Payload, type PayloadFormat } from '../payload.ts';

/**
 * Avro in the Confluent wire format: magic byte 0, the writer schema's id as a 4-byte big-endian
 * integer, then the Avro binary body.
 */

export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

export function encodeWire(type: Type, schemaId: number, value: unknown): Buffer {
  let body: Buffer;
  try {
    body = type.toBuffer(value);
  } catch (err) {
    throw new RtmlError('RTML_E_SCHEMA', `value does not match schema ${type.name ?? type.typeName}: ${errorMessage(err)}`, { cause: err });
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out[0] = MAGIC_BYTE;
  out.writeUInt32BE(schemaId >>> 0, 1);
  body.copy(out, HEADER_BYTES);
  return out;
}

/** The schema id of a wire-format payload, or why it is not one. */
export function wireSchemaId(buf: Buffer): number | string {
  if (buf.length < HEADER_BYTES) return `not Confluent wire format: ${buf.length} byte(s), shorter than the 5-byte header`;
  if (buf[0] !== MAGIC_BYTE) return `not Confluent wire format: magic byte ${buf[0]} (expected 0)`;
  return buf.readUInt32BE(1);
}

/** Writer schemas by id: LocalSchemaIds, or a schema registry's (see schemaRegistry.ts). */
export interface WriterSchemas {
  get(id: number): Type | undefined;
  /** Why `id` has no schema, when the source knows more than "not one of its ids". */
  unknown?(id: number): string | undefined;
  resolver(reader: Type, writer: Type): ReturnType<Type['createResolver']>;
}

/**
 * Wire-format payloads read with `schemas` (writer type by id), resolved to `reader` when the writer
 * schema differs (connectors/payload.ts decides the record or dead letter).
 */
export function wirePayloads(schemas: WriterSchemas, reader?: Type): PayloadFormat {
  const resolve = (reader: Type, writer: Type) => (writer === reader ? undefined : schemas.resolver(reader, writer));
  return {
    decode(payload: Payload): InputRecord {
      const { buf, payloadStart, payloadEnd } = payload;
      const id = wireSchemaId(buf.subarray(payloadStart, payloadEnd));
      if (typeof id === 'string') return undecodable(payload, id);
      const writer = schemas.get(id);
      const reading: AvroReading =
        writer === undefined
          ? { error: schemas.unknown?.(id) ?? `unknown schema id ${id}: not the id of any schema this source knows` }
          : avroReading(id, writer, reader, resolve);
      return avroRecord(payload, reading, `invalid Avro payload for schema ${id}`, payloadStart + HEADER_BYTES);
    },
  };
}

/**
 * Schema ids without a registry: each schema's id is the first 31 bits of the SHA-256 of its
 * Parsing Canonical Form, so the same schema gets the same id in every process.
 */
export class LocalSchemaIds implements WriterSchemas {
  private readonly byId = new Map<number, Type>();
  private readonly resolvers = new Map<string, ReturnType<Type['createResolver']>>();

  /** Registers `type` and returns its id. */
  add(type: Type): number {
    const id = LocalSchemaIds.idOf(type);
    const known = this.byId.get(id);
    if (known === undefined) this.byId.set(id, type);
    else if (!known.fingerprint().equals(type.fingerprint())) {
      throw new RtmlError('RTML_E_SCHEMA', `schemas ${known.name ?? known.typeName} and ${type.name ?? type.typeName} have the same local id ${id}`);
    }
    return id;
  }

  get(id: number): Type | undefined {
    return this.byId.get(id);
  }

  resolver(reader: Type, writer: Type): ReturnType<Type['createResolver']> {
    const key = `${LocalSchemaIds.idOf(reader)}<${LocalSchemaIds.idOf(writer)}`;
    let resolver = this.resolvers.get(key);
    if (resolver === undefined) {
      resolver = reader.createResolver(writer);
      this.resolvers.set(key, resolver);
    }
    return resolver;
  }

  static idOf(type: Type): number {
    return type.fingerprint('sha256').readUInt32BE(0) >>> 1;
  }
}
