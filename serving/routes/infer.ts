import type { RegistryModel, RegistryModelHandle } from '../../models/registry/provider.ts';
import type { Prediction } from '../batcher.ts';
import type { Call } from '../call.ts';
import { inferRequest, InferRequestSchema, inferResponse, type InferRequest } from '../oip.ts';
import type { Route } from './route.ts';
import { CallJob } from './scoring.ts';

/** Open Inference Protocol infer, on the version the routing picks per row or on an explicit one. */
const infer: Omit<Route<typeof InferRequestSchema>, 'path' | 'params'> = {
  method: 'post',
  name: 'infer',
  scope: 'predict',
  summary: 'Open Inference Protocol (KServe v2) infer: a `features` tensor [N, F] or [F], or one input per feature name [N] or [N, 1]; outputs `score` and, on request, `label`.',
  body: InferRequestSchema,
  responses: {
    200: '`{"model_name", "model_version", "id"?, "outputs": [{"name", "datatype", "shape", "data"}]}`',
    404: 'no such model or version',
    422: 'the tensors do not fit the model (width, input names, non-numeric data)',
  },
  handle: async (call, body, { catalog, batcher }) => {
    const [name, versionText] = call.params as [string, string | undefined];
    const handle = await catalog.served(name);
    call.model = name;
    const pinned = versionText === undefined ? null : await catalog.version(handle, name, versionText);
    const request = inferRequest(body, pinned ?? handle.current().serving(''));
    batcher.submit(new InferJob(call, handle, pinned, request));
  },
};

export const inferRoutes: readonly Route[] = [
  { ...infer, path: '/v2/models/{name}/infer', params: { name: 'the model name' } },
  { ...infer, path: '/v2/models/{name}/versions/{version}/infer', params: { name: 'the model name', version: 'a version number (`3` or `v3`)' } },
];

class InferJob extends CallJob {
  constructor(
    call: Call,
    handle: RegistryModelHandle,
    pinned: RegistryModel | null,
    private readonly request: InferRequest,
  ) {
    super(call, handle, pinned, request.instances);
  }

  where(index: number): string {
    return `row ${index}: `;
  }

  protected answer(predictions: Prediction[]): string {
    return inferResponse(this.call.model, this.request, predictions);
  }
}
