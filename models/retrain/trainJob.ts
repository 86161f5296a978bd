import { Worker } from 'node:worker_threads';
import { RtmlError, errorMessage, type ErrorCode } from '../../engine/errors.ts';
import { holdoutSplit, readTrainingData, type GbdtParams, type LabelledData } from '../training/index.ts';
import { trainModel, type TrainedModel } from './trainModel.ts';

/**
 * The CPU-heavy part of a retrain — reading the training set, training, checking the ONNX export —
 * run on a worker thread, so a scoring pipeline in the same process (`rtml monitor --retrain`)
 * keeps its event loop. The job also cuts out the evaluation rows (the last `holdout` share) in
 * the challenger's feature order and, when it differs, in the champion's.
 */

export interface TrainJob {
  /** The training set (JSON lines, CSV or Parquet), rows oldest first. */
  readonly trainingSet: string;
  readonly label: string;
  readonly features: readonly string[];
  readonly params: Partial<GbdtParams>;
  readonly holdout: number;
  /** The production version's features when they differ from `features`; null when it has none or the same. */
  readonly championFeatures: readonly string[] | null;
}

export interface TrainResult {
  readonly trained: TrainedModel;
  /** The evaluation rows in the challenger's feature order… */
  readonly challengerRows: LabelledData;
  /** …and in the champion's, when its features differ (else null: the same rows serve both). */
  readonly championRows: LabelledData | null;
}

/** What the worker posts back. */
export type TrainReply = { readonly result: TrainResult } | { readonly error: { readonly code: ErrorCode; readonly message: string } };

export async function runTrainJob(job: TrainJob): Promise<TrainResult> {
  const spec = { label: job.label, features: job.features };
  const data = await readTrainingData(job.trainingSet, spec);
  const trained = await trainModel(data, { label: job.label, params: job.params });
  const championRows = job.championFeatures === null ? null : evaluationRows(await readTrainingData(job.trainingSet, { label: job.label, features: job.championFeatures }), job.holdout);
  return { trained, challengerRows: evaluationRows(data, job.holdout), championRows };
}

/** The last `holdout` share of the rows, copied out of the whole set's buffers (so posting them copies only them). */
function evaluationRows(data: LabelledData, holdout: number): LabelledData {
  const { heldOut } = holdoutSplit(data, holdout);
  return { matrix: { ...heldOut.matrix, values: heldOut.matrix.values.slice() }, labels: heldOut.labels.slice() };
}

// A worker thread starts without the parent's module hooks: from the TypeScript sources it
// registers tsx first; compiled (dist/), it loads the JavaScript entry directly.
const WORKER_ENTRY = new URL(import.meta.url.endsWith('.ts') ? './trainWorker.ts' : './trainWorker.js', import.meta.url).href;
const BOOTSTRAP = import.meta.url.endsWith('.ts')
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_ENTRY)}); })`
  : `import(${JSON.stringify(WORKER_ENTRY)})`;

/** runTrainJob on a worker thread; its failure is rethrown here as the RtmlError it was. */
export function trainInWorker(job: TrainJob): Promise<TrainResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: job });
    let replied = false;
    worker.once('message', (reply: TrainReply) => {
      replied = true;
      if ('result' in reply) resolve(reply.result);
      else reject(new RtmlError(reply.error.code, reply.error.message));
    });
    worker.once('error', (err) => {
      replied = true;
      reject(new RtmlError('RTML_E_TRAIN', `the training worker failed: ${errorMessage(err)}`, { cause: err }));
    });
    worker.once('exit', (code) => {
      if (!replied) reject(new RtmlError('RTML_E_TRAIN', `the training worker exited (code ${code}) without a model`));
    });
  });
}
