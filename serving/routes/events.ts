import { Type } from '@sinclair/typebox';
import { RtmlError } from '../../engine/errors.ts';
import { truncate } from '../http.ts';
import type { Route } from './route.ts';

/** Each event is checked against the source's Avro schema by the topic, one by one: a bad one is reported, not the request. */
export const EventsBody = Type.Union([Type.Array(Type.Unknown(), { minItems: 1 }), Type.Not(Type.Array(Type.Unknown()))], {
  description: "one event (a JSON object of the source's Avro schema) or a non-empty array of them",
});

/** Appends events to an `--ingest` topic of the embedded log; answered once they are on disk. */
export const eventsRoute: Route<typeof EventsBody> = {
  method: 'post',
  path: '/events/{source}',
  name: 'events',
  scope: 'ingest',
  summary: 'Appends events to the log topic of an `--ingest` source, each checked against its Avro schema; answered once the accepted ones are durable (fsync).',
  params: { source: 'the source name given to `--ingest NAME=log:…`' },
  body: EventsBody,
  responses: {
    202: '`{"accepted", "rejected", "errors": [{"index", "reason"}]}`: at least one event appended',
    404: 'no such source',
    422: 'every event was rejected, with the reasons',
  },
  handle: async (call, body, { topics, metrics }) => {
    const source = call.params[0]!;
    const topic = topics.get(source);
    if (topic === undefined) {
      throw new RtmlError('RTML_E_HTTP_NOT_FOUND', `no source '${truncate(source)}' takes events here (configured: ${topics.size === 0 ? 'none; start with --ingest NAME=log:…' : [...topics.keys()].join(', ')})`);
    }
    call.model = source;
    const result = await topic.append(Array.isArray(body) ? body : [body]);
    metrics.ingested.labels(source, 'accepted').inc(result.accepted);
    metrics.ingested.labels(source, 'rejected').inc(result.rejected);
    if (result.accepted > 0) call.send(202, JSON.stringify(result));
    else call.send(422, JSON.stringify({ error: `every event was rejected; first: ${result.errors[0]!.reason}`, code: 'RTML_E_EVENT', ...result }));
  },
};
