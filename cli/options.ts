import { InvalidArgumentError } from 'commander';
import { parseRateLimit, type RateLimit } from '../serving/rateLimit.ts';

/** Option parsers of `rtml serve` and `rtml keys`, kept apart so the CLI loads them without the server. */

/** `100/s` or `100/s:300` (burst 300; default: one second's worth). */
export function rateOption(value: string): RateLimit {
  const m = /^(\d+(?:\.\d+)?)\/s(?::(\d+))?$/.exec(value);
  if (m === null) throw new InvalidArgumentError('expected requests per second like 100/s or 100/s:300 (burst 300)');
  const perSecond = Number(m[1]);
  return parseRateLimit({ perSecond, burst: m[2] === undefined ? Math.max(1, Math.ceil(perSecond)) : Number(m[2]) }, 'rate');
}

/** Bytes: `65536`, `64kb`, `1mb`. */
export function sizeOption(value: string): number {
  const m = /^(\d+)(b|kb|mb)?$/i.exec(value);
  if (m === null) throw new InvalidArgumentError('expected a size like 65536, 64kb or 1mb');
  return Number(m[1]) * { b: 1, kb: 1024, mb: 1 << 20 }[(m[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb'];
}
