import { Type, type Static } from '@sinclair/typebox';

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

/** The name a scoring request asks for, as registered (`rtml models register <name>`). */
export const ModelName = Type.String({ minLength: 1 });

/**
 * The fields of one row with named features. Feature values are not typed here: only the ones the
 * model needs must be numbers, which the Batcher checks (422) once it knows the model.
 */
export const INSTANCE_FIELDS = {
  features: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'an object of feature name to value (a number, or null for missing)' })),
  entity: Type.Optional(
    Type.Union([Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]), { minProperties: 1, maxProperties: 1 }), Type.Null()], {
      description: 'an object naming exactly one key field and its id (a string or a number), like {"card_id": "c1"}, or null',
    }),
  ),
};

export const InstanceSchema = Type.Object(INSTANCE_FIELDS);
export type InstanceBody = Static<typeof InstanceSchema>;

const NO_FEATURES: Readonly<Record<string, unknown>> = Object.freeze({});

/** The row of a body already validated against InstanceSchema (or a schema with its fields). */
export function toInstance(body: InstanceBody): Instance {
  const { features, entity } = body;
  let key = '';
  if (entity !== undefined && entity !== null) for (const field in entity) key = String(entity[field]);
  return { features: features ?? NO_FEATURES, vector: null, entity: key, hasEntity: entity !== undefined && entity !== null };
}

/** A short description of a JSON value's type, for messages (never the value itself: it may be huge). */
export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
