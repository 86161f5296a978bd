import type { RtmlError } from '../../engine/errors.ts';
import type { RegistryModel, RegistryModelHandle } from '../../models/registry/provider.ts';
import type { Job, Prediction } from '../batcher.ts';
import type { Call } from '../call.ts';
import type { ModelCatalog } from '../catalog.ts';
import type { Instance } from '../instances.ts';

/** What the scoring routes share: the model lookup, the job that answers a call, the answer's fields. */

/**
 * Runs `then` with the served model `name`: at once when it is loaded (the hot path: no promise),
 * else after a registry rescan (404 if still unknown). The call's metrics are labelled with the model.
 */
export function withModel(call: Call, catalog: ModelCatalog, name: string, then: (handle: RegistryModelHandle) => void): void | Promise<void> {
  const handle = catalog.get(name);
  if (handle !== undefined) {
    call.model = name;
    then(handle);
    return;
  }
  return catalog.served(name).then((found) => {
    call.model = name;
    then(found);
  });
}

/** The rows of one HTTP scoring request; each route answers them in its own shape. */
export abstract class CallJob implements Job {
  constructor(
    protected readonly call: Call,
    readonly handle: RegistryModelHandle,
    readonly pinned: RegistryModel | null,
    readonly instances: readonly Instance[],
  ) {}

  abstract where(index: number): string;

  /** Answers with the predictions, labelling the metrics with their version ('mixed' for an A/B split across rows). */
  done(predictions: Prediction[]): void {
    const first = predictions[0]!.version;
    this.call.version = predictions.every((p) => p.version === first) ? first : 'mixed';
    this.call.send(200, this.answer(predictions));
  }

  /** The response body (JSON). */
  protected abstract answer(predictions: Prediction[]): string;

  fail(err: RtmlError): void {
    this.call.fail(err);
  }
}

export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/** The answer to one row (`/predict`, WebSocket). */
export function predictionFields(p: Prediction, probabilities: boolean, started: number): Record<string, unknown> {
  return probabilities
    ? { model: p.model, version: p.version, score: p.score, label: p.label, probabilities: [1 - p.score, p.score], latency_ms: elapsed(started) }
    : { model: p.model, version: p.version, score: p.score, label: p.label, latency_ms: elapsed(started) };
}
