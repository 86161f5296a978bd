import { RtmlError } from '../engine/errors.ts';

/**
 * One row to score, as a request gives it: named feature values (`/predict`, `/predict/batch`,
 * WebSocket) or a vector already in the model's column order (Open Inference Protocol), and the
 * entity whose online features fill what is not given (also the key of A/B assignment).
 */
export interface Instance {
  readonly features: Readonly<Record<string, unknown>> | null;
  readonly vector: Float32Array | null;
  /** The entity key; '' when none was given. */
  readonly entity: string;
  readonly hasEntity: boolean;
}

const NO_FEATURES: Readonly<Record<string, unknown>> = Object.freeze({});

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads `{ features: {…}?, entity: { <key field>: <id> }? }`. `where` names the instance in
 * messages ('' for a single prediction, 'instances[3]: ' in a batch).
 */
export function parseInstance(body: unknown, where: string): Instance {
  if (!isObject(body)) throw new RtmlError('RTML_E_HTTP_REQUEST', `${where}expected a JSON object with "features" and/or "entity", got ${describeJson(body)}`);
  const { features, entity } = body;
  if (features !== undefined && !isObject(features)) throw new RtmlError('RTML_E_HTTP_REQUEST', `${where}"features" must be an object of feature name to number, got ${describeJson(features)}`);
  let key = '';
  if (entity !== undefined && entity !== null) {
    if (!isObject(entity)) throw new RtmlError('RTML_E_HTTP_REQUEST', `${where}"entity" must be an object like {"card_id": "c1"}, got ${describeJson(entity)}`);
    const fields = Object.keys(entity);
    if (fields.length !== 1) throw new RtmlError('RTML_E_HTTP_REQUEST', `${where}"entity" must name exactly one key field, like {"card_id": "c1"}; got ${fields.length} fields`);
    const id = entity[fields[0]!];
    if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
      throw new RtmlError('RTML_E_HTTP_REQUEST', `${where}entity ${fields[0]} must be a string or a number, got ${describeJson(id)}`);
    }
    key = String(id);
  }
  return { features: features ?? NO_FEATURES, vector: null, entity: key, hasEntity: entity !== undefined && entity !== null };
}

/** A short description of a JSON value's type, for messages (never the value itself: it may be huge). */
export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
