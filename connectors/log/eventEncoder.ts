import type { Type as AvroType } from 'avsc';
import { hasField, schemaViolation, timeFieldScale, timestampField } from '../../engine/avro.ts';
import { RtmlError } from '../../engine/errors.ts';

/** One JSON event checked against its schema, ready to append: or the reason it is refused. */
export type EncodedEvent = { key: string; time: number; payload: Buffer } | { reason: string };

/**
 * Checks and encodes JSON events for the embedded log, as `rtml produce` and `rtml serve`'s
 * `POST /events/{source}` append them: the value must match the Avro schema, the key field must be
 * a string or number, and the event time (the `time` field, else the schema's timestamp field,
 * else `ts`; wall-clock time when the schema has none) must be a finite number. Field names are
 * checked against the schema once, here.
 */
export function eventEncoder(type: AvroType, key: string, time?: string, names = { key: 'key field', time: 'time field' }): (value: unknown) => EncodedEvent {
  if (!hasField(type, key)) throw new RtmlError('RTML_E_USAGE', `${names.key} ${key}: the schema ${type.name ?? ''} has no such field`);
  if (time !== undefined && !hasField(type, time)) throw new RtmlError('RTML_E_USAGE', `${names.time} ${time}: the schema ${type.name ?? ''} has no such field`);
  const timeField = time ?? timestampField(type) ?? (hasField(type, 'ts') ? 'ts' : undefined);
  const scale = timeField === undefined ? 1 : timeFieldScale(type, timeField);
  return (value) => {
    const violation = schemaViolation(type, value);
    if (violation !== undefined) return { reason: `schema ${type.name ?? ''} mismatch: ${violation}` };
    const record = value as Record<string, unknown>;
    const k = record[key];
    if (typeof k !== 'string' && typeof k !== 'number') return { reason: `key field '${key}' is ${k === null ? 'null' : typeof k}, not a string or number` };
    const t = timeField === undefined ? Date.now() : (record[timeField] as number) * scale;
    if (!Number.isFinite(t)) return { reason: `event time field '${timeField}' is ${JSON.stringify(record[timeField!])}, not a number` };
    return { key: String(k), time: t, payload: type.toBuffer(value) };
  };
}
