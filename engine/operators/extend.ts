/**
 * Copies of events with extra fields, made fast. V8 turns `{ ...event }` followed by new
 * properties into a slow object (measured here: 12 µs for a 22-field event with 4 added, against
 * 1 µs for a literal that names the new fields before the spread), so the copy is a literal
 * `{ "f1": null, …, ...event }` compiled once per field list. The extra fields come first in the
 * copy (an event field of the same name overrides the placeholder): assign their values after.
 */
export function extender(fields: readonly string[]): (event: unknown) => Record<string, unknown> {
  const placeholders = fields.map((f) => `${JSON.stringify(f)}: null`).join(', ');
  return new Function('event', `return { ${placeholders}, ...event };`) as (event: unknown) => Record<string, unknown>;
}
