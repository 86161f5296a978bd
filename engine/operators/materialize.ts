import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { RtmlError } from '../errors.ts';
import type { FeatureValue, FeatureView } from '../features.ts';
import { currentHost } from '../host.ts';
import { callerLocation } from '../location.ts';
import { markShape, shapeOf, type KnownShape } from '../shape.ts';

function describe(v: unknown): string {
  return v === undefined ? 'missing' : JSON.stringify(v);
}

/** The view's fields as `role 'name'`, entity and time first. */
function viewFields(view: FeatureView): [field: string, role: string][] {
  return [[view.entity, 'entity'], [view.time, 'time'], ...view.features.map((f): [string, string] => [f, 'feature'])];
}

/** Results known (engine/shape.ts) to lack fields the view names: a mistake in the topology, found at start. */
function checkShape(view: FeatureView, shape: KnownShape, what: string): void {
  const have = new Set(shape.fields);
  const missing = viewFields(view).filter(([f]) => !have.has(f));
  if (missing.length === 0) return;
  throw new RtmlError(
    'RTML_E_FEATURE_VIEW',
    `${what}: feature view '${view.name}' (declared at ${view.at}) names ${missing.map(([f, role]) => `${role} field '${f}'`).join(', ')}, ` +
      `but the results of ${shape.by} have no such field (they have: ${shape.fields.join(', ')})`,
  );
}

/** Results watched for a field the view names and none of them has (when their shape is not known at start). */
const WATCHED_RESULTS = 100;

/**
 * Materialises each result into a feature view's online and offline stores, and passes it on.
 *
 * 1. The row's entity is the result's `entity` field (string or number, stored as text), its time
 *    the `time` field (whole epoch ms), its values the `features` fields (finite numbers, or null).
 * 2. Directly after aggregate() (or through sink(...)) the results' fields are known at build time:
 *    a view naming a field they lack fails at start (RTML_E_FEATURE_VIEW, with the fields they have).
 * 3. Otherwise a result that lacks one of them, or holds a non-number, goes to the dead-letter output
 *    with the reason: a window result as a result letter (OutputCapability.deadLetterResult, counted in
 *    `resultsDeadLettered`), an input event materialised directly as that event's letter. When the
 *    first 100 results all lack a field the view names, that is reported once; the run goes on.
 * 4. Rows are written in batches when the runtime flushes (and always before a checkpoint).
 *
 * ```ts
 * const card = featureView({ name: 'card_activity', features: ['n', 'total'], ttl: '1d' });
 * keyBy('card_id'), window(tumbling('1m')), aggregate({ n: count(), total: sum('amount') }), materialize(card)
 * ```
 */
export function materialize<T>(view: FeatureView): MonoTypeOperatorFunction<T> {
  const at = callerLocation();
  if (!view || typeof view.name !== 'string' || !Array.isArray(view.features)) {
    throw new RtmlError('RTML_E_FEATURE_VIEW', `materialize() at ${at} needs a view made by featureView({...})`);
  }
  const what = `materialize('${view.name}') at ${at}`;
  return (source) => {
    const shape = shapeOf(source);
    if (shape !== undefined) checkShape(view, shape, what);
    return markShape(new Observable<T>((subscriber) => {
      const host = currentHost(what);
      const writer = host.features.writer(view);
      const table = host.features.table(view);
      const record = host.record;
      // Unknown shape: the view's fields that every result so far lacked (watched for the first ones).
      let watched = shape === undefined ? 0 : WATCHED_RESULTS;
      let alwaysMissing = viewFields(view);
      return source.subscribe({
        next(result) {
          const r = (typeof result === 'object' && result !== null ? result : {}) as Record<string, unknown>;
          if (watched < WATCHED_RESULTS) {
            alwaysMissing = alwaysMissing.filter(([f]) => r[f] === undefined);
            if (alwaysMissing.length === 0) watched = WATCHED_RESULTS;
            else if (++watched === WATCHED_RESULTS) {
              host.telemetry.report(
                `${what}: the first ${WATCHED_RESULTS} results all lack ${alwaysMissing.map(([f, role]) => `${role} field '${f}'`).join(', ')} of feature view '${view.name}' (declared at ${view.at}); ` +
                  'they are dead-lettered: check the view against the fields the stream carries',
              );
            }
          }
          const entity = r[view.entity];
          const time = r[view.time];
          let reason: string | undefined;
          if (typeof entity !== 'string' && typeof entity !== 'number') reason = `entity field '${view.entity}' is ${describe(entity)}`;
          else if (typeof time !== 'number' || !Number.isInteger(time)) reason = `time field '${view.time}' is ${describe(time)}, not whole epoch ms`;
          const values: Record<string, FeatureValue> = {};
          for (const f of view.features) {
            const v = r[f];
            if (v === null || (typeof v === 'number' && Number.isFinite(v))) values[f] = v;
            else reason ??= `feature '${f}' is ${describe(v)}, not a finite number or null`;
          }
          if (reason !== undefined) {
            const why = `materialize('${view.name}'): ${reason}`;
            // A window result is not an input event: its letter leaves the event that fired it alone.
            if (record.result !== undefined) host.outputs.deadLetterResult(why, result);
            else host.outputs.deadLetter(why);
          } else {
            const row = { entity: String(entity), time: time as number, values };
            // A window a replay range cuts holds part of its events: never written over the stores' rows.
            if (!record.cut) writer.write(view, row);
            table.stage(row);
          }
          subscriber.next(result as T);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    }), shape);
  };
}
