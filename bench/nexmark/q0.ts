import { defineTopology } from 'rtml';
import type { Bid } from './generator.ts';

/** Nexmark q0, pass-through: every bid, unchanged (the cost of reading and writing). */
export default defineTopology('nexmark-q0', ({ source, sink }) => source<Bid>('bid', { time: 'dateTime' }).pipe(sink('out')));
