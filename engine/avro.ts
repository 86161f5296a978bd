import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import avro from 'avsc';
import { RtmlError, errorMessage } from './errors.ts';

export type AvroType = avro.Type;
export type AvroSchema = avro.Schema;

/** Schema definitions as written: avsc drops `logicalType` attributes it has no class for. */
const definitions = new WeakMap<AvroType, unknown>();

/**
 * Loads an Avro schema from a .avsc path (tried against each of `baseDirs` in order: the topology
 * file's folder, then the working directory) or from an inline schema object.
 */
export function loadSchema(schema: string | object, baseDirs: readonly string[], what: string): AvroType {
  let definition: unknown = schema;
  if (typeof schema === 'string') {
    const tried = baseDirs.map((dir) => resolve(dir, schema));
    const path = tried.find((p) => existsSync(p));
    if (!path) throw new RtmlError('RTML_E_SCHEMA', `${what}: schema file ${schema} not found (tried ${tried.join(', ')})`);
    try {
      definition = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new RtmlError('RTML_E_SCHEMA', `${what}: ${path} is not valid JSON: ${errorMessage(err)}`);
    }
  }
  try {
    const type = avro.Type.forSchema(definition as AvroSchema);
    definitions.set(type, definition);
    return type;
  } catch (err) {
    throw new RtmlError('RTML_E_SCHEMA', `${what}: not a valid Avro schema: ${errorMessage(err)}`);
  }
}

/**
 * Records `definition` as the schema `type` was made from (a type made outside loadSchema, such as
 * a log topic's registered schemas), so its `logicalType`s are known (timeFieldScale).
 */
export function keepDefinition(type: AvroType, definition: unknown): AvroType {
  if (!definitions.has(type)) definitions.set(type, definition);
  return type;
}

/** The schema as written (with `logicalType`s and defaults), for storing beside data. */
export function schemaDefinition(type: AvroType): object {
  return (definitions.get(type) as object | undefined) ?? (type.schema({ exportAttrs: true }) as object);
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'nothing' : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function typeName(type: AvroType): string {
  return type.branchName ?? type.typeName;
}

/**
 * Why `value` does not conform to `type` (naming the first bad field, and any field the schema does
 * not declare), or undefined when it does.
 */
export function schemaViolation(type: AvroType, value: unknown): string | undefined {
  let reason: string | undefined;
  const valid = type.isValid(value, {
    noUndeclaredFields: true,
    errorHook(path, bad, badType) {
      if (reason !== undefined) return;
      const where = path.length > 0 ? `field '${path.join('.')}'` : 'value';
      if (badType.typeName === 'record' && bad !== null && typeof bad === 'object' && !Array.isArray(bad)) {
        const declared = new Set((badType as avro.types.RecordType).fields.map((f) => f.name));
        const extra = Object.keys(bad).filter((k) => !declared.has(k));
        reason = extra.length > 0 ? `${where}: undeclared field(s) ${extra.join(', ')} for ${badType.name ?? 'record'}` : `${where}: not a ${badType.name ?? 'record'}`;
      } else {
        reason = bad === undefined ? `${where}: missing (expected ${typeName(badType)})` : `${where}: expected ${typeName(badType)}, got ${show(bad)}`;
      }
    },
  });
  return valid ? undefined : (reason ?? 'does not match the schema');
}

/** Multiplier from a record field's values to epoch ms: 0.001 for `timestamp-micros`, else 1. */
export function timeFieldScale(type: AvroType | undefined, field: string): number {
  const definition = type && (definitions.get(type) as { fields?: { name: string; type: unknown }[] } | undefined);
  const fieldType = definition?.fields?.find((f) => f.name === field)?.type as { logicalType?: string } | undefined;
  return fieldType?.logicalType === 'timestamp-micros' ? 0.001 : 1;
}

export function hasField(type: AvroType, field: string): boolean {
  return type.typeName !== 'record' || (type as avro.types.RecordType).fields.some((f) => f.name === field);
}

/** The first record field declared as an Avro `timestamp-millis` or `timestamp-micros`, if any. */
export function timestampField(type: AvroType): string | undefined {
  const definition = definitions.get(type) as { fields?: { name: string; type: { logicalType?: string } | string }[] } | undefined;
  return definition?.fields?.find((f) => typeof f.type === 'object' && /^timestamp-(millis|micros)$/.test(f.type.logicalType ?? ''))?.name;
}
