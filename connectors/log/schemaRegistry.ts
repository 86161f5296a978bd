import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import type { Schema, Type } from 'avsc';
import { keepDefinition } from '../../engine/avro.ts';
import { RtmlError } from '../../engine/errors.ts';
import { schemasDir, writeFileAtomic } from './layout.ts';

/** Schema id of raw JSON payloads (UTF-8 JSON text); registered Avro schemas get 1, 2, 3… */
export const JSON_SCHEMA_ID = 0;

/** What `rtml log info` shows about a registered schema. */
export interface SchemaInfo {
  readonly id: number;
  /** The full name of a named type, else its type name ('string', 'array', …). */
  readonly name: string;
  /** Hex MD5 of the schema's canonical form (avsc `Type.fingerprint()`). */
  readonly fingerprint: string;
}

/** An Avro schema as a user gives it: an avsc Type, a schema object, or a primitive name. */
export type SchemaInput = Schema | object;

const SCHEMA_FILE = /^(\d+)\.avsc$/;

/**
 * The Avro schemas registered in a topic (`<topic>/schemas/<id>.avsc`). Readers load it and `reload()`
 * when they meet an id they do not know; the topic's writer `register`s new schemas. A schema whose
 * canonical form equals a registered one gets that one's id, so the canonical form (which ignores
 * docs, aliases and defaults) identifies a writer schema; each id's file keeps the full schema, with
 * defaults and logical types, as first registered (pass the schema object rather than an avsc Type
 * to keep attributes avsc does not model, such as `logicalType`).
 */
export class SchemaRegistry {
  private readonly types = new Map<number, Type>();
  private readonly infos = new Map<number, SchemaInfo>();
  private readonly byFingerprint = new Map<string, number>();

  private constructor(readonly dir: string) {}

  static load(topic: string): SchemaRegistry {
    const registry = new SchemaRegistry(schemasDir(topic));
    registry.reload();
    return registry;
  }

  /** Reads schema files not seen yet (registered ids never change, so known ones are kept). */
  reload(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      const m = SCHEMA_FILE.exec(name);
      if (!m) continue;
      const id = Number(m[1]);
      if (id === JSON_SCHEMA_ID || this.types.has(id)) continue;
      const file = path.join(this.dir, name);
      let json: unknown;
      try {
        json = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (err) {
        throw new RtmlError('RTML_E_SCHEMA', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
      }
      this.add(id, toType(json as Schema, file));
    }
  }

  /** The type registered under `id`, undefined if none (ids 0 and unknown ones). */
  get(id: number): Type | undefined {
    return this.types.get(id);
  }

  has(id: number): boolean {
    return this.types.has(id);
  }

  /** Highest registered id, undefined when no schema is registered. */
  newestId(): number | undefined {
    let newest: number | undefined;
    for (const id of this.types.keys()) if (newest === undefined || id > newest) newest = id;
    return newest;
  }

  list(): SchemaInfo[] {
    return [...this.infos.values()].sort((a, b) => a.id - b.id);
  }

  /**
   * Registers `schema` and returns its id (the existing id when its canonical form is already
   * registered). Only the topic's writer may call this: ids are assigned as max + 1.
   */
  register(schema: SchemaInput): number {
    const type = toType(schema, 'schema');
    const existing = this.byFingerprint.get(fingerprintOf(type));
    if (existing !== undefined) return existing;
    const id = (this.newestId() ?? 0) + 1;
    fs.mkdirSync(this.dir, { recursive: true });
    // Keep the schema as given: avsc's own export drops attributes it has no class for (logicalType).
    const definition = avro.Type.isType(schema) ? type.schema({ exportAttrs: true }) : schema;
    const text = JSON.stringify(definition, null, 2);
    writeFileAtomic(path.join(this.dir, `${id}.avsc`), `${text}\n`);
    this.add(id, type);
    return id;
  }

  private add(id: number, type: Type): void {
    const fingerprint = fingerprintOf(type);
    this.types.set(id, type);
    this.infos.set(id, { id, name: type.name ?? type.typeName, fingerprint });
    if (!this.byFingerprint.has(fingerprint)) this.byFingerprint.set(fingerprint, id);
  }
}

function fingerprintOf(type: Type): string {
  return type.fingerprint().toString('hex');
}

/** An avsc Type for `schema`; RTML_E_SCHEMA naming `where` when it is not a valid Avro schema. */
export function toType(schema: SchemaInput, where: string): Type {
  if (avro.Type.isType(schema)) return schema as Type;
  try {
    // Keep the schema as written: avsc drops logicalTypes (timestamp-micros) it has no class for.
    return keepDefinition(avro.Type.forSchema(schema as Schema), schema);
  } catch (err) {
    throw new RtmlError('RTML_E_SCHEMA', `${where}: invalid Avro schema: ${(err as Error).message}`, { cause: err });
  }
}
