import type { Topology } from 'rtml';
import type { EventKind } from './generator.ts';

/** The Nexmark queries of this suite and the event kinds (sources) each reads. */
export const QUERIES = {
  q0: ['bid'],
  q1: ['bid'],
  q2: ['bid'],
  q3: ['person', 'auction'],
  q4: ['auction', 'bid'],
  q5: ['bid'],
  q7: ['bid'],
  q8: ['person', 'auction'],
  q9: ['auction', 'bid'],
  q11: ['bid'],
} as const satisfies Record<string, readonly EventKind[]>;

export type QueryName = keyof typeof QUERIES;

export function isQueryName(name: string): name is QueryName {
  return Object.hasOwn(QUERIES, name);
}

/** The topology of bench/nexmark/<name>.ts. */
export async function loadQuery(name: QueryName): Promise<Topology> {
  return ((await import(`./${name}.ts`)) as { default: Topology }).default;
}
