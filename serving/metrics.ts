import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Traffic } from './traffic.ts';

/** Latency buckets in seconds, from 50 µs: the server answers in well under a millisecond. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * The server's Prometheus metrics (prom-client), in their own registry so several servers in one
 * process (tests) do not collide. Labelled children are cached by label values: the hot path pays
 * a Map lookup, not prom-client's label hashing.
 */
export class ServingMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'rtml_http_requests_total', help: 'HTTP requests answered, by route, model, version and status', labelNames: ['route', 'model', 'version', 'status'] as const, registers: [this.registry] });
  private readonly duration = new Histogram({ name: 'rtml_http_request_duration_seconds', help: 'Time from request to response, by route, model, version and status', labelNames: ['route', 'model', 'version', 'status'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  /** Requests in flight and the drain at shutdown; rtml_http_requests_in_flight reads it when scraped. */
  readonly traffic = new Traffic();
  readonly featureLookup = new Histogram({ name: 'rtml_feature_lookup_duration_seconds', help: 'Online feature store round trips (one per request batch and view)', labelNames: ['view'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly batchRows = new Histogram({ name: 'rtml_model_batch_rows', help: 'Rows per model call: requests arriving together are scored in one batch', labelNames: ['model', 'version'] as const, buckets: BATCH_BUCKETS, registers: [this.registry] });
  readonly shadowPredictions = new Counter({ name: 'rtml_shadow_predictions_total', help: 'Rows scored by shadow versions (recorded, never returned)', labelNames: ['model', 'version'] as const, registers: [this.registry] });
  readonly shadowDisagreements = new Counter({ name: 'rtml_shadow_disagreements_total', help: "Rows whose shadow label differed from the served label", labelNames: ['model', 'version'] as const, registers: [this.registry] });
  readonly shadowFailures = new Counter({ name: 'rtml_shadow_failures_total', help: 'Rows a shadow version failed to score (answers unaffected)', labelNames: ['model', 'version'] as const, registers: [this.registry] });
  readonly shadowDelta = new Histogram({ name: 'rtml_shadow_score_abs_delta', help: 'Absolute difference between the shadow and the serving score of a row', labelNames: ['model', 'version'] as const, buckets: [0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1], registers: [this.registry] });
  readonly wsConnections = new Gauge({ name: 'rtml_ws_connections', help: 'Open WebSocket connections', registers: [this.registry] });
  readonly wsClosed = new Counter({ name: 'rtml_ws_closed_total', help: 'WebSocket connections closed by the server, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly ingested = new Counter({ name: 'rtml_ingest_records_total', help: 'Events posted to /events/{source}, by outcome', labelNames: ['source', 'outcome'] as const, registers: [this.registry] });
  private readonly children = new Map<string, { count: Counter.Internal; time: Histogram.Internal<string> }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'rtml_http_requests_in_flight', help: 'Requests received and not yet answered', registers: [this.registry], collect: collectFrom(this.traffic) });
  }

  /** Records one answered request. */
  request(route: string, model: string, version: string, status: number, seconds: number): void {
    const id = `${route}\u0000${model}\u0000${version}\u0000${status}`;
    let child = this.children.get(id);
    if (child === undefined) {
      const labels = { route, model, version, status: String(status) };
      child = { count: this.requests.labels(labels), time: this.duration.labels(labels) };
      this.children.set(id, child);
    }
    child.count.inc();
    child.time.observe(seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function collectFrom(traffic: Traffic): (this: Gauge) => void {
  return function (this: Gauge) {
    this.set(traffic.inFlight);
  };
}
