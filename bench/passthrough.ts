import { defineTopology, keyBy } from 'rtml';

/** bench/transports.ts fills each transport with this: every event, keyed by card, unchanged. */
export default defineTopology('bench-passthrough', ({ source, sink }) => source('events', { time: 'ts' }).pipe(keyBy('card_id'), sink('out')));
