import { Type, type Static } from '@sinclair/typebox';
import type { RegistryModelHandle } from '../../models/registry/provider.ts';
import type { Prediction } from '../batcher.ts';
import type { Call } from '../call.ts';
import { INSTANCE_FIELDS, ModelName, toInstance } from '../instances.ts';
import type { Route } from './route.ts';
import { CallJob, predictionFields, withModel } from './scoring.ts';

export const PredictBody = Type.Object({
  model_name: ModelName,
  ...INSTANCE_FIELDS,
  return_probabilities: Type.Optional(Type.Boolean()),
});

/** One row: `{ model_name, features?, entity?, return_probabilities? }` → `{ model, version, score, label, latency_ms }`. */
export const predictRoute: Route<typeof PredictBody> = {
  method: 'post',
  path: '/predict',
  name: 'predict',
  scope: 'predict',
  summary: 'Scores one row: features given by name, the rest read from the online feature store for the entity. The entity also picks the A/B variant.',
  body: PredictBody,
  responses: {
    200: '`{"model", "version", "score", "label", "probabilities"?, "latency_ms"}`',
    404: 'no such model is served',
    422: 'a feature the model needs is missing or not a number',
    503: 'the online feature store is unavailable',
  },
  handle: (call, body, { catalog, batcher }) =>
    withModel(call, catalog, body.model_name, (handle) => batcher.submit(new PredictJob(call, handle, body.return_probabilities === true, body))),
};

class PredictJob extends CallJob {
  constructor(
    call: Call,
    handle: RegistryModelHandle,
    private readonly probabilities: boolean,
    body: Static<typeof PredictBody>,
  ) {
    super(call, handle, null, [toInstance(body)]);
  }

  where(): string {
    return '';
  }

  protected answer(predictions: Prediction[]): string {
    return JSON.stringify(predictionFields(predictions[0]!, this.probabilities, this.call.started));
  }
}
