import { parentPort, workerData } from 'node:worker_threads';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import { runTrainJob, type TrainJob, type TrainReply } from './trainJob.ts';

/** The training worker's entry (trainJob.ts starts it): runs one job, posts its result or its error. */

let reply: TrainReply;
try {
  reply = { result: await runTrainJob(workerData as TrainJob) };
} catch (err) {
  reply = { error: { code: err instanceof RtmlError ? err.code : 'RTML_E_TRAIN', message: errorMessage(err) } };
}
parentPort!.postMessage(reply);
