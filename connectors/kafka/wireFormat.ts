import type { Type } from 'avsc';
import { errorMessage, RtmlError } from '../../engine/errors.ts';

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

export type WireDecoded = { value: unknown; error?: undefined } | { value?: undefined; error: string };

/** Writer schemas by id: LocalSchemaIds, or a schema registry's (see schemaRegistry.ts). */
export interface WriterSchemas {
  get(id: number): Type | undefined;
  /** Why `id` has no schema, when the source knows more than "not one of its ids". */
  unknown?(id: number): string | undefined;
  resolver(reader: Type, writer: Type): ReturnType<Type['createResolver']>;
}

/**
 * Decodes a wire-format payload with `schemas` (writer type by id), resolving to `reader` when the
 * writer schema differs; never throws.
 */
export function decodeWire(buf: Buffer, schemas: WriterSchemas, reader?: Type): WireDecoded {
  const id = wireSchemaId(buf);
  if (typeof id === 'string') return { error: id };
  const writer = schemas.get(id);
  if (writer === undefined) return { error: schemas.unknown?.(id) ?? `unknown schema id ${id}: not the id of any schema this source knows` };
  let resolver: ReturnType<Type['createResolver']> | undefined;
  const type = reader ?? writer;
  if (reader !== undefined && writer !== reader) {
    try {
      resolver = schemas.resolver(reader, writer);
    } catch (err) {
      return { error: `schema mismatch: written with schema ${id} (${writer.name ?? writer.typeName}), which the reader schema cannot read: ${errorMessage(err)}` };
    }
  }
  try {
    const { value, offset } = type.decode(buf, HEADER_BYTES, resolver);
    if (offset !== buf.length) {
      const what = offset < 0 || offset > buf.length ? 'is truncated' : `has ${buf.length - offset} byte(s) left over`;
      return { error: `invalid Avro payload for schema ${id}: the ${buf.length - HEADER_BYTES}-byte body ${what}` };
    }
    return { value };
  } catch (err) {
    return { error: `invalid Avro payload for schema ${id}: ${errorMessage(err)}` };
  }
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
