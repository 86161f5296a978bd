import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { RtmlError } from '../engine/errors.ts';
import { describeJson } from './instances.ts';

/**
 * Request bodies checked against their TypeBox schemas by Ajv, compiled once per schema (the
 * hot path calls the compiled function and nothing else; messages are built only on failure).
 *
 * Convention: a schema's `description` completes the sentence "<field> must be …", so the one
 * text serves the API docs and the error message (`"entity" must be an object naming exactly one
 * key field…, got an object with 2 properties`). Schemas without one are described from their
 * keywords ("a non-empty string", "a string or a number").
 */

/** A compiled validator: the body itself, typed, or an RtmlError RTML_E_HTTP_REQUEST (400) naming the field. */
export type BodyValidator<S extends TSchema> = (body: unknown) => Static<S>;

// strictNumbers: NaN and ±Infinity (JSON.parse('1e999')) are not numbers; verbose: errors carry
// their schema and data, read only to word the message.
const ajv = new Ajv2020({ strictNumbers: true, verbose: true, allErrors: false });
const compiled = new WeakMap<TSchema, ValidateFunction>();

/** The validator of `schema`, compiled on first use and shared after. */
export function bodyValidator<S extends TSchema>(schema: S): BodyValidator<S> {
  let validate = compiled.get(schema);
  if (validate === undefined) compiled.set(schema, (validate = ajv.compile(schema)));
  const check = validate;
  return (body: unknown): Static<S> => {
    if (check(body)) return body as Static<S>;
    throw new RtmlError('RTML_E_HTTP_REQUEST', validationMessage(check.errors ?? []));
  };
}

/**
 * One sentence for the errors of one failed validation: the deepest error wins (a union whose
 * every branch failed at the same place is reported as the union, "a string or a number").
 */
export function validationMessage(errors: readonly ErrorObject[]): string {
  let chosen: ErrorObject | undefined;
  let depth = -1;
  for (const e of errors) {
    // a missing property is reported one level below the object that lacks it
    const d = (e.instancePath === '' ? 0 : e.instancePath.split('/').length) + (e.keyword === 'required' ? 1 : 0);
    if (d >= depth) {
      chosen = e;
      depth = d;
    }
  }
  if (chosen === undefined) return 'request body does not match its schema';
  const e = chosen;
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    const property = (e.parentSchema?.properties as Record<string, TSchema> | undefined)?.[missing];
    return `"${fieldPath(e.instancePath, missing)}" must be ${property === undefined ? 'given' : describeSchema(property)}, got nothing`;
  }
  const schema = (e.parentSchema ?? {}) as TSchema;
  const expected = describeSchema(schema);
  const actual = describeValue(e.data, e.keyword, schema);
  return e.instancePath === '' ? `expected ${expected}, got ${actual}` : `"${fieldPath(e.instancePath)}" must be ${expected}, got ${actual}`;
}

/** `/instances/3/entity` → `instances[3].entity` (keys that are not identifiers in brackets). */
function fieldPath(pointer: string, last?: string): string {
  const keys = pointer === '' ? [] : pointer.slice(1).split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (last !== undefined) keys.push(last);
  let path = '';
  for (const key of keys) {
    if (/^\d+$/.test(key)) path += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) path += path === '' ? key : `.${key}`;
    else path += `[${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)}]`;
  }
  return path;
}

/** What a value of `schema` is, as a noun phrase: its description, or read from its keywords. */
export function describeSchema(schema: TSchema): string {
  if (typeof schema.description === 'string') return schema.description;
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((v: unknown) => JSON.stringify(v)).join(', ')}`;
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf as TSchema[];
    if (branches.every((b) => 'const' in b)) return `one of ${branches.map((b) => JSON.stringify(b.const)).join(', ')}`;
    return [...new Set(branches.map(describeSchema))].join(' or ');
  }
  switch (schema.type) {
    case 'string':
      return typeof schema.minLength === 'number' && schema.minLength > 0 ? 'a non-empty string' : 'a string';
    case 'integer':
      return schema.minimum === 1 ? 'a positive integer' : typeof schema.minimum === 'number' ? `an integer ≥ ${schema.minimum}` : 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'null';
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const max = typeof schema.maxItems === 'number' ? schema.maxItems : undefined;
      const items = schema.items === undefined || Object.keys(schema.items as object).length === 0 ? '' : `, each ${describeSchema(schema.items as TSchema)}`;
      if (max !== undefined) return `an array of ${min === max ? max : `${min} to ${max}`} items${items}`;
      return `${min > 0 ? 'a non-empty array' : 'an array'}${items}`;
    }
    case 'object':
      return 'a JSON object';
    default:
      return 'any JSON value';
  }
}

/** What the client sent, for the message: its kind and size, never a long value (it may be huge). */
function describeValue(data: unknown, keyword: string, schema: TSchema): string {
  if (keyword === 'minLength' || keyword === 'maxLength') return (data as string).length === 0 ? 'an empty string' : `a string of ${(data as string).length} characters`;
  const valueMatters = keyword === 'const' || keyword === 'enum' || (keyword === 'anyOf' && (schema.anyOf as TSchema[]).every((b) => 'const' in b));
  if (typeof data === 'number' || typeof data === 'boolean') return String(data);
  if (typeof data === 'string' && valueMatters) return JSON.stringify(data.length > 40 ? `${data.slice(0, 40)}…` : data);
  if (Array.isArray(data)) return data.length === 0 ? 'an empty array' : `an array of ${data.length} ${data.length === 1 ? 'item' : 'items'}`;
  if (typeof data === 'object' && data !== null) {
    const n = Object.keys(data).length;
    return `an object with ${n} ${n === 1 ? 'property' : 'properties'}`;
  }
  return describeJson(data);
}
