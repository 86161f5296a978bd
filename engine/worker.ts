import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CheckpointFile } from './run/checkpointFile.ts';
import { errorMessage, RtmlError } from './errors.ts';
import type { GroupMembership } from './io.ts';
import { runTopology, TopologyRun, type RunOptions, type RunStats } from './runtime.ts';
import type { Topology } from './topology.ts';
import { logLine } from './log.ts';

/**
 * Scale-out, the Kafka Streams way: N workers (processes, usually on N machines) run the same
 * topology with the same bindings and join one group through the topology's source; the group shares
 * the source's partitions out among them. Each partition is a **task**: a run of the topology over
 * that partition alone, with its own operator state, watermark and checkpoint
 * (`<checkpoint dir>/partition-<p>`). Keyed state therefore lives with the partition its keys are in
 * (records are partitioned by key), and a task's results do not depend on which worker runs it or on
 * how many workers there are.
 *
 * When the group moves a partition, the worker that had it stops the task, checkpoints it and
 * commits its offsets before the group hands it on; the new owner resumes from that checkpoint. A
 * worker that dies is replaced the same way from its last checkpoint (state exactly-once, outputs
 * at-least-once as after any crash, or exactly-once with transactional sinks, whose transactions
 * are named after the task so that its new owner fences the old one). The checkpoint directory
 * must therefore be one all workers share (a mounted volume).
 */
export interface WorkerOptions extends RunOptions {
  checkpoint: NonNullable<RunOptions['checkpoint']>;
  /** Called when tasks start and stop (for logs). */
  log?: (message: string) => void;
}

/** How often an idle bounded worker asks whether the whole group is done. */
const DRAINED_POLL_MS = 500;

/** The repartition() exchange topic's two ends (GroupMembership.exchange). */
type Exchange = Awaited<ReturnType<GroupMembership['exchange']>>;

interface Task {
  readonly stop: AbortController;
  done: Promise<void>;
  lost: boolean;
}

/**
 * Claims a task's checkpoint directory for this worker: a token written atomically, which the next
 * owner overwrites. `held()` is read before each checkpoint (a small file on the shared volume).
 */
function claimTask(dir: string): { held(): boolean } {
  const token = `${hostname()} ${process.pid} ${randomUUID()}`;
  const path = join(dir, 'owner');
  const temp = `${path}.${token.replaceAll(' ', '-')}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(temp, token);
  renameSync(temp, path);
  return {
    held: () => {
      try {
        return readFileSync(path, 'utf8') === token;
      } catch {
        return false;
      }
    },
  };
}

/** One worker of a scale-out group: runs tasks for the partitions the group gives it until the inputs end (or `signal` aborts a live run). */
export async function runWorker(topology: Topology, options: WorkerOptions): Promise<RunStats> {
  const log = options.log ?? ((m: string) => logLine(`rtml: ${m}`));
  // The first source (by name) joins the group; the others are co-partitioned with it.
  const [lead, ...others] = Object.keys(options.sources)
    .sort()
    .map((name) => options.sources[name]!);
  if (lead?.joinGroup === undefined || others.some((s) => s.shareGroup === undefined)) {
    const cannot = [lead, ...others].find((s) => s !== undefined && s.joinGroup === undefined);
    throw new RtmlError('RTML_E_BINDING', `scale-out shares out the partitions of Kafka sources in their consumer group; ${cannot?.uri ?? 'this run'} cannot (bind kafka://…/topic?group=<id>)`);
  }
  const tasks = new Map<number, Task>();
  const totals: RunStats[] = [];
  let failure: unknown;
  let assignedOnce = false;
  let wake: () => void = () => {};
  const changed = () => wake();

  // With repartition() a partition's task runs in two parts joined by the exchange topic: the part
  // before it reads the source partition, the part after it the exchange partition of that number.
  const repartition = new TopologyRun(topology, options).repartitionedBy();
  let exchangeReady: (exchange: Exchange | undefined) => void = () => {};
  const exchange = new Promise<Exchange | undefined>((resolve) => (exchangeReady = resolve));

  const runPart = async (partition: number, task: Task, signal: AbortSignal, part: 'upstream' | 'downstream' | undefined, ends: Exchange | undefined): Promise<void> => {
    const dir = join(options.checkpoint.dir, `partition-${partition}`, part ?? '');
    const what = `partition ${partition}${part ? ` (${part} of ${repartition})` : ''}`;
    log(`${what}: task starts ${existsSync(new CheckpointFile(dir, topology.name).path) ? 'from its checkpoint' : 'without a checkpoint'}`);
    const claim = claimTask(dir);
    // Fenced once the group said so, or once another worker has claimed the task (this one was
    // paused past the session timeout and has not heard yet): no checkpoint or commit after that.
    const fenced = (): boolean => {
      if (!task.lost && !claim.held()) {
        task.lost = true;
        log(`${what}: another worker has taken the task over; stopping it without a checkpoint`);
        task.stop.abort();
      }
      return task.lost;
    };
    try {
      const stats = await runTopology(topology, {
        ...options,
        partitions: [partition],
        signal,
        checkpoint: { ...options.checkpoint, dir },
        fenced,
        exchange: part === undefined || ends === undefined ? undefined : part === 'upstream' ? { side: 'send', sink: ends.sink, partitions: ends.partitions } : { side: 'receive', source: ends.source, upstreamPartitions: ends.partitions },
      });
      totals.push(stats);
      log(`${what}: task ${task.stop.signal.aborted ? 'stopped (handed over)' : 'done'}: events in ${stats.in}${stats.resumed ? ', resumed from a checkpoint' : ''}`);
    } catch (err) {
      // A task another worker has taken over fails once that worker's transactional writer fences
      // this one's (nothing it wrote since its last checkpoint is visible): it stops, the worker goes on.
      if (fenced()) log(`${what}: task stopped, its writes refused since another worker took it over (${errorMessage(err)})`);
      else failure ??= new RtmlError('RTML_E_PIPELINE', `${what}: ${errorMessage(err)}`, { cause: err });
    }
  };

  const start = (partition: number): void => {
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([stop.signal, options.signal]) : stop.signal;
    const task: Task = { stop, lost: false, done: Promise.resolve() };
    const parts = repartition === undefined ? [undefined] : (['upstream', 'downstream'] as const);
    task.done = (async () => {
      const ends = await exchange;
      if (failure !== undefined) return; // setting up the group failed: the worker stops
      // Bounded: a partition another worker finished before the group moved it has nothing left (and
      // a fresh downstream task would wait for upstream ends that were all sent before).
      if (!options.follow && (await membership.drained([partition]))) {
        log(`partition ${partition}: done already`);
        return;
      }
      await Promise.all(parts.map((part) => runPart(partition, task, signal, part, ends)));
    })();
    tasks.set(partition, task);
    // A bounded task that ends leaves the map, so the worker knows when it has nothing left to do.
    void task.done.then(() => {
      if (tasks.get(partition) === task && !stop.signal.aborted) tasks.delete(partition);
      changed();
    });
  };

  // Tasks use it only once `exchange` is resolved, after the join.
  const membership: GroupMembership = await lead.joinGroup({
    assigned(partitions) {
      assignedOnce = true;
      log(`partitions assigned: [${partitions.join(', ')}]`);
      for (const p of partitions) if (!tasks.has(p)) start(p);
      changed();
    },
    async revoked(partitions, lost) {
      log(`partitions ${lost ? 'lost' : 'revoked'}: [${partitions.join(', ')}]`);
      const stopping = partitions.flatMap((p) => {
        const task = tasks.get(p);
        if (!task) return [];
        tasks.delete(p);
        task.lost = lost;
        task.stop.abort();
        return [task.done];
      });
      await Promise.all(stopping);
      changed();
    },
  });
  log(`joined ${membership.description}`);
  try {
    for (const other of others) await other.shareGroup!(membership);
    exchangeReady(repartition === undefined ? undefined : await membership.exchange(`${topology.name}-repartition`));
  } catch (err) {
    failure ??= err;
    exchangeReady(undefined);
  }
  options.signal?.addEventListener('abort', changed, { once: true });
  try {
    // Live: until stopped. Bounded: until this worker has no task left and the group's committed
    // positions show every partition done (a worker may get nothing, or get partitions late).
    for (;;) {
      if (failure !== undefined || options.signal?.aborted) break;
      if (!options.follow && assignedOnce && tasks.size === 0 && (await membership.drained())) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, DRAINED_POLL_MS);
      });
    }
  } finally {
    options.signal?.removeEventListener('abort', changed);
    await membership.leave();
    await Promise.all([...tasks.values()].map((t) => t.done));
  }
  if (failure !== undefined) throw failure;
  return sumStats(topology.name, totals);
}

function sumStats(topology: string, runs: readonly RunStats[]): RunStats {
  const sum = (f: (s: RunStats) => number) => runs.reduce((total, s) => total + f(s), 0);
  const elapsedMs = Math.max(0, ...runs.map((s) => s.elapsedMs));
  const events = sum((s) => s.in);
  const last = runs.at(-1);
  return {
    topology,
    in: events,
    processed: sum((s) => s.processed),
    late: sum((s) => s.late),
    deadLettered: sum((s) => s.deadLettered),
    resultsDeadLettered: sum((s) => s.resultsDeadLettered),
    resultsOut: sum((s) => s.resultsOut),
    lateDropped: sum((s) => s.lateDropped),
    deadLettersUnbound: sum((s) => s.deadLettersUnbound),
    elapsedMs,
    eventsPerSecond: elapsedMs > 0 ? (events * 1000) / elapsedMs : 0,
    checkpoints: sum((s) => s.checkpoints),
    checkpointBytes: last?.checkpointBytes ?? 0,
    checkpointMs: last?.checkpointMs ?? 0,
    // The tasks share the worker's feature store: its count, not a sum.
    storeRetries: Math.max(0, ...runs.map((s) => s.storeRetries)),
    resumed: runs.some((s) => s.resumed),
    windowsCut: sum((s) => s.windowsCut),
  };
}
