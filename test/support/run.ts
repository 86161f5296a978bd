import { runTopology, type RunOptions, type RunStats } from '../../engine/runtime.ts';
import type { Topology } from '../../engine/topology.ts';
import { memorySink, memorySource } from './memory.ts';

export interface Outputs {
  out: Record<string, unknown>[];
  late: Record<string, unknown>[];
  dlq: Record<string, unknown>[];
  stats: RunStats;
  warnings: string[];
}

/** Runs `topology` over in-memory partitions of its `events` source, with out/late/dlq sinks bound. */
export async function runOn(
  topology: Topology,
  partitions: unknown[][],
  options: Partial<RunOptions> & { bindLate?: boolean } = {},
): Promise<Outputs> {
  const out = memorySink();
  const late = memorySink();
  const dlq = memorySink();
  const warnings: string[] = [];
  const { bindLate = true, ...rest } = options;
  const stats = await runTopology(topology, {
    sources: { events: memorySource(partitions) },
    sinks: { out: out.connector, dlq: dlq.connector, ...(bindLate ? { late: late.connector } : {}) },
    warn: (m) => warnings.push(m),
    ...rest,
  });
  return { out: out.json(), late: late.json(), dlq: dlq.json(), stats, warnings };
}

/** Events `{ k, v, t }` from compact tuples. */
export function ev(k: string, t: number, v = 1, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { k, t, v, ...extra };
}

/** Result rows reduced to `key@start-end:field=value` strings, for compact assertions. */
export function rows(results: Record<string, unknown>[], field = 'n'): string[] {
  return results.map((r) => `${r.key}@${r.window_start}-${r.window_end}:${r[field]}`);
}
