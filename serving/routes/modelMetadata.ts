import { modelMetadata } from '../oip.ts';
import type { Route } from './route.ts';

/** Open Inference Protocol model metadata: tensors, versions, rtml's feature names. */
const metadata = {
  method: 'get',
  name: 'model_metadata',
  scope: 'read',
  responses: { 200: '`{"name", "versions", "platform", "inputs", "outputs", "parameters": {"version", "features"}}`', 404: 'no such model or version' },
} as const;

export const modelMetadataRoutes: readonly Route[] = [
  {
    ...metadata,
    path: '/v2/models/{name}',
    summary: 'Model metadata (Open Inference Protocol) of the version served to entity-less requests.',
    params: { name: 'the model name' },
    handle: async (call, _body, { catalog }) => {
      const name = call.params[0]!;
      const handle = await catalog.served(name);
      call.model = name;
      call.send(200, JSON.stringify(modelMetadata(handle.current().serving(''), await catalog.versions(name))));
    },
  },
  {
    ...metadata,
    path: '/v2/models/{name}/versions/{version}',
    summary: 'Model metadata (Open Inference Protocol) of one version.',
    params: { name: 'the model name', version: 'a version number (`3` or `v3`)' },
    handle: async (call, _body, { catalog }) => {
      const [name, version] = call.params as [string, string];
      const handle = await catalog.served(name);
      call.model = name;
      const model = await catalog.version(handle, name, version);
      call.version = model.version;
      call.send(200, JSON.stringify(modelMetadata(model, await catalog.versions(name))));
    },
  },
];
