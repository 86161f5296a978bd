import type { Registry } from 'prom-client';
import type { ModelStatus } from '../catalog.ts';

/** What the page is told besides the metrics. */
export interface DashboardAbout {
  /** Which server answers: the page shows the panels that apply to it and says why the others are empty. */
  readonly server: 'serve' | 'run';
  /** The topology's name (a run), or 'rtml serve'. */
  readonly title: string;
  /** rtml serve: each model and what it serves ('v3', 'A/B v2:90% v3:10%'). */
  readonly models?: readonly ModelStatus[];
}

/**
 * `GET /dashboard/metrics.json`: the server's `rtml_` metrics as prom-client reads them (counters,
 * gauges, histogram buckets: the page computes rates and quantiles from the difference between two
 * snapshots), with the wall-clock time of the reading.
 */
export async function dashboardSnapshot(registry: Registry, about: DashboardAbout): Promise<string> {
  const metrics = (await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('rtml_')).map(({ name, type, values }) => ({ name, type, values }));
  return JSON.stringify({ ...about, time: Date.now(), metrics });
}
