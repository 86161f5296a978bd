import { createRequire } from 'node:module';
import type { Tensor as OrtTensor } from 'onnxruntime-node';

const require = createRequire(import.meta.url);

/** onnxruntime-node's native session: its `run` is synchronous (the public API only wraps it in a promise). */
interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: object): Record<string, { data: Float32Array; dims: number[] }>;
}

const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
const native = require('onnxruntime-node/dist/binding') as { binding: { InferenceSession: new () => NativeSession }; initOrt(): void };

/**
 * An ONNX model scored synchronously in the calling thread, so a stream operator can score a
 * micro-batch between two events without giving up the engine's synchronous, ordered processing.
 * Input `features` [N, F] float32, output `score` [N, 1] (the rtml model contract).
 */
export class SyncOnnxSession {
  private readonly session: NativeSession;

  constructor(
    bytes: Uint8Array,
    readonly featureCount: number,
  ) {
    native.initOrt();
    this.session = new native.binding.InferenceSession();
    // One thread: the tree sums then run in the same order whatever the batch size, so a batch
    // scores exactly as its rows one by one.
    this.session.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  }

  /** Scores `rows` rows of `values` (row-major, F per row); returns one score per row. */
  score(values: Float32Array, rows: number): Float32Array {
    const input = new ort.Tensor('float32', values.subarray(0, rows * this.featureCount), [rows, this.featureCount]);
    return this.session.run({ features: input }, { score: null }, {}).score!.data;
  }
}
