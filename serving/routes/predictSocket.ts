import { Type, type Static } from '@sinclair/typebox';
import type { RtmlError } from '../../engine/errors.ts';
import type { RegistryModelHandle } from '../../models/registry/provider.ts';
import type { Job, Prediction } from '../batcher.ts';
import { toInstance, type Instance } from '../instances.ts';
import { PredictBody } from './predict.ts';
import type { SocketReply } from '../socket.ts';
import type { MessageRoute } from './route.ts';
import { predictionFields } from './scoring.ts';

/** A /predict body with the `id` its answer carries. */
export const PredictMessage = Type.Object({
  id: Type.Union([Type.String(), Type.Number()], { description: 'a string or a number, to match the answer to its message' }),
  ...PredictBody.properties,
});

/** `/predict` over one WebSocket connection: many rows in flight, each answered as it is scored. */
export const predictSocketRoute: MessageRoute<typeof PredictMessage> = {
  path: '/ws',
  name: 'ws',
  scope: 'predict',
  summary: 'WebSocket scoring: each message is a /predict body with an `id`; answers come back as they are ready, in any order, matched by `id`. Credentials at the upgrade (headers, or `?api_key=`).',
  message: PredictMessage,
  answer: '`{"id", "model", "version", "score", "label", "probabilities"?, "latency_ms"}`, or `{"id", "error", "code", "status"}`',
  handle: (message, reply, { catalog, batcher }) => {
    const started = performance.now();
    const handle = catalog.get(message.model_name);
    if (handle !== undefined) batcher.submit(new SocketJob(reply, handle, message, started));
    else return catalog.served(message.model_name).then((found) => batcher.submit(new SocketJob(reply, found, message, started)));
  },
};

/** One WebSocket message's row. */
class SocketJob implements Job {
  readonly pinned = null;
  readonly instances: readonly Instance[];
  private readonly probabilities: boolean;

  constructor(
    private readonly reply: SocketReply,
    readonly handle: RegistryModelHandle,
    message: Static<typeof PredictMessage>,
    private readonly started: number,
  ) {
    this.instances = [toInstance(message)];
    this.probabilities = message.return_probabilities === true;
  }

  where(): string {
    return '';
  }

  done(predictions: Prediction[]): void {
    this.reply.answer(predictionFields(predictions[0]!, this.probabilities, this.started));
  }

  fail(err: RtmlError): void {
    this.reply.answer(err);
  }
}
