import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import type { RegistryModelProvider } from './provider.ts';

/**
 * `rtml_model_load_failures_total{model,version}` in `metrics`, read from the provider at each
 * scrape: a version the routing names that cannot be loaded (the RtmlModelLoadFailures alert).
 * The current routing keeps serving meanwhile, so nothing else would show it.
 */
export function modelLoadMetrics(metrics: MetricsRegistry, provider: RegistryModelProvider): void {
  new Counter({
    name: 'rtml_model_load_failures_total',
    help: 'Loads of a model version that failed (missing or corrupt artifact, registry unreachable); the current routing keeps serving',
    labelNames: ['model', 'version'] as const,
    registers: [metrics],
    collect() {
      this.reset();
      for (const f of provider.loadFailures()) this.labels(f.model, `v${f.version}`).inc(f.count);
    },
  });
}
