import { apiDocumentRoutes } from './apiDocuments.ts';
import { dashboardFeedRoute, dashboardRoutes } from './dashboard.ts';
import { eventsRoute } from './events.ts';
import { healthRoutes } from './health.ts';
import { inferRoutes } from './infer.ts';
import { metricsRoute } from './metrics.ts';
import { modelMetadataRoutes } from './modelMetadata.ts';
import { modelReadyRoute } from './modelReady.ts';
import { predictRoute } from './predict.ts';
import { predictBatchRoute } from './predictBatch.ts';
import { predictSocketRoute } from './predictSocket.ts';
import { readyRoutes } from './ready.ts';
import type { Route, WebSocketRoute } from './route.ts';

/** Every HTTP route of `rtml serve`, in the order the docs list them. */
export const ROUTES: readonly Route[] = [
  predictRoute,
  predictBatchRoute,
  ...inferRoutes,
  ...modelMetadataRoutes,
  modelReadyRoute,
  eventsRoute,
  ...healthRoutes,
  ...readyRoutes,
  metricsRoute,
  ...dashboardRoutes,
  ...apiDocumentRoutes,
];

/** Every WebSocket route. */
export const SOCKET_ROUTES: readonly WebSocketRoute[] = [predictSocketRoute, dashboardFeedRoute];

export type { BoundRoute, FeedRoute, MessageRoute, Route, RouteContext, WebSocketRoute } from './route.ts';
