import { fileURLToPath } from 'node:url';
import { reapedChildrenCpuSeconds, run } from './procs.ts';

/** Saturation load with wrk (one thread, closed loop: each connection sends its next request when the last is answered). */

const SCRIPT = fileURLToPath(new URL('post.lua', import.meta.url));

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Non-2xx answers plus socket errors (connect, read, write, timeout). */
  errors: number;
  /** CPU wrk itself used, in % of one core: near 100 %, the load generator is the bottleneck. */
  generatorCpuPercent: number;
}

/** `wrk -t1 -c<connections> -d<seconds>s --latency` POSTing the bodies of `bodiesFile` (post.lua) to `url`. */
export async function wrk(url: string, bodiesFile: string, seconds: number, connections = 64): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '--latency', '-s', SCRIPT, url, '--', bodiesFile];
  const cpuBefore = reapedChildrenCpuSeconds();
  const started = performance.now();
  const out = await run('wrk', args, (seconds + 30) * 1000);
  const generatorCpuPercent = ((reapedChildrenCpuSeconds() - cpuBefore) / ((performance.now() - started) / 1000)) * 100;
  return { ...parseWrk(out), generatorCpuPercent };
}

export function parseWrk(out: string): Omit<WrkResult, 'generatorCpuPercent'> {
  const number = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`unexpected wrk output (no ${re.source}): ${out.slice(0, 400)}`);
    return Number(m[1]);
  };
  const latency = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`unexpected wrk output (no ${p}% latency): ${out.slice(0, 400)}`);
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    rps: number(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests: number(/(\d+) requests in/),
    errors: socketErrors + (non2xx ? Number(non2xx[1]) : 0),
  };
}
