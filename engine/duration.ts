import { RtmlError } from './errors.ts';

/** A duration: milliseconds as a number, or a string such as '250ms', '5s', '1m', '1h', '1d'. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Parses a duration into milliseconds. `what` names the option for the error message
 * (e.g. "hopping() size"); `at` is the topology location the value came from, when known.
 */
export function parseDuration(value: unknown, what: string, at?: string): number {
  let ms = Number.NaN;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const m = DURATION_RE.exec(value.trim());
    if (m) ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RtmlError(
      'RTML_E_DURATION',
      `${what}: ${JSON.stringify(value)} is not a duration (use milliseconds >= 0 or '250ms', '5s', '1m', '1h', '1d')` +
        (at ? ` at ${at}` : ''),
    );
  }
  return ms;
}
