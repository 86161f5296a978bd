/** The model registry's public API, in one import. */
export { ArtifactStore, DEFAULT_ARTIFACTS, sha256 } from './artifacts.ts';
export type { InspectedModel, Metrics, ModelSignature } from './inspect.ts';
export { APPLICATION_NAME } from './listen.ts';
export { DEFAULT_REGISTRY, openRegistry } from './open.ts';
export { Registry, type RegisterOptions, type Registered, type RegistryOptions, type RoutingUpdate } from './registry.ts';
export { bucket, choose, describeRouting, emptyRouting, type Routing, type Split } from './routing.ts';
export { CHANNEL } from './schema.ts';
export type { ModelVersion, RoutingEvent } from './store.ts';
export { promote, rollback, setAb, setShadow, type Stage } from './transitions.ts';
export type { RoutingWatch, WatchOptions } from './watch.ts';
export { modelLoadMetrics } from './metrics.ts';
export { registryModels, type LoadFailure, type RegistryModel, type RegistryModelHandle, type RegistryModelProvider, type RegistryRouting } from './provider.ts';
