import { Type } from '@sinclair/typebox';
import type { RegistryModelHandle } from '../../models/registry/provider.ts';
import type { Prediction } from '../batcher.ts';
import type { Call } from '../call.ts';
import { InstanceSchema, ModelName, toInstance, type Instance } from '../instances.ts';
import type { Route } from './route.ts';
import { CallJob, elapsed, withModel } from './scoring.ts';

export const PredictBatchBody = Type.Object({
  model_name: ModelName,
  instances: Type.Array(InstanceSchema, { minItems: 1 }),
  return_probabilities: Type.Optional(Type.Boolean()),
});

/** Many rows of one model, scored in one batch: `{ model_name, instances: [{ features?, entity? }, …] }`. */
export const predictBatchRoute: Route<typeof PredictBatchBody> = {
  method: 'post',
  path: '/predict/batch',
  name: 'predict_batch',
  scope: 'predict',
  summary: 'Scores many rows of one model together; each row as in /predict. Errors name the row (`instances[3]: …`).',
  body: PredictBatchBody,
  responses: {
    200: '`{"model", "predictions": [{"score", "label", "version", "probabilities"?}, …], "latency_ms"}`',
    404: 'no such model is served',
    422: 'a feature the model needs is missing or not a number, in the row named',
    503: 'the online feature store is unavailable',
  },
  handle: (call, body, { catalog, batcher }) =>
    withModel(call, catalog, body.model_name, (handle) => batcher.submit(new BatchJob(call, handle, body.instances.map(toInstance), body.return_probabilities === true))),
};

class BatchJob extends CallJob {
  constructor(
    call: Call,
    handle: RegistryModelHandle,
    instances: readonly Instance[],
    private readonly probabilities: boolean,
  ) {
    super(call, handle, null, instances);
  }

  where(index: number): string {
    return `instances[${index}]: `;
  }

  protected answer(predictions: Prediction[]): string {
    const rows = predictions.map((p) => (this.probabilities ? { score: p.score, label: p.label, version: p.version, probabilities: [1 - p.score, p.score] } : { score: p.score, label: p.label, version: p.version }));
    return JSON.stringify({ model: this.call.model, predictions: rows, latency_ms: elapsed(this.call.started) });
  }
}
