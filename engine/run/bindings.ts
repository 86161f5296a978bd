import { RtmlError } from '../errors.ts';
import type { SinkConnector, SinkTransaction, SinkWriter } from '../io.ts';
import type { TopologyGraph } from './graph.ts';
import type { RunOptions } from './options.ts';
import type { Outcomes } from './outcomes.ts';

/** Sink writes are flushed once this many bytes are buffered. */
const FLUSH_BYTES = 1 << 20;

/**
 * A run's bindings: the connectors its sources and sinks are bound to (`--source name=URI`,
 * `--sink name=URI`), checked against what the topology declares, and the writers of its sinks.
 */
export class Bindings {
  /** The sinks bound, with the default sink filled in. */
  readonly sinks: Readonly<Record<string, SinkConnector>>;
  /** Open writers by sink name (the exchange's too, on the sending side). */
  readonly writers = new Map<string, SinkWriter>();

  constructor(
    private readonly topology: string,
    private readonly graph: TopologyGraph,
    private readonly options: RunOptions,
  ) {
    const sinks: Record<string, SinkConnector> = { ...options.sinks };
    const fallback = options.defaultSink;
    if (fallback) for (const name of [...graph.sinks.keys(), ...graph.lateSinks.keys()]) sinks[name] ??= fallback;
    this.sinks = sinks;
  }

  /** True when a window's late output `name` is bound, or bound by the default sink (backfill discards outputs by design). */
  static lateBound(options: RunOptions, name: string): boolean {
    return options.sinks[name] !== undefined || options.defaultSink !== undefined;
  }

  /** Every declared source and sink is bound, and every binding names one. */
  check(): void {
    const { graph } = this;
    const { sources } = this.options;
    for (const name of graph.declared.keys()) {
      if (!sources[name]) throw new RtmlError('RTML_E_BINDING', `source '${name}' is not bound: add --source ${name}=URI (${this.describe()})`);
    }
    for (const name of Object.keys(sources)) {
      if (!graph.declared.has(name)) throw new RtmlError('RTML_E_BINDING', `--source ${name}: no such source (${this.describe()})`);
    }
    for (const name of graph.sinks.keys()) {
      if (!this.sinks[name]) throw new RtmlError('RTML_E_BINDING', `sink '${name}' is not bound: add --sink ${name}=URI (${this.describe()})`);
    }
    for (const name of Object.keys(this.sinks)) {
      if (name !== 'dlq' && !graph.sinks.has(name) && !graph.lateSinks.has(name)) {
        throw new RtmlError('RTML_E_BINDING', `--sink ${name}: no such sink (${this.describe()})`);
      }
    }
  }

  /** The URIs a checkpoint is tied to: resuming with other bindings would mix up positions. */
  uris(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, c] of Object.entries(this.options.sources)) out[`source ${name}`] = c.uri;
    for (const [name, c] of Object.entries(this.sinks)) out[`sink ${name}`] = c.uri;
    const exchange = this.options.exchange;
    if (exchange) out[`exchange (${exchange.side})`] = exchange.side === 'send' ? exchange.sink.uri : exchange.source.uri;
    return out;
  }

  /** Opens every sink (resuming where a checkpoint left it) and hands the writers to the operators; `writerId`: who writes (SinkOpenOptions.writer). */
  async openSinks(resume: Readonly<Record<string, unknown>> | undefined, opened: { close(): Promise<void> }[], outcomes: Outcomes, writerId: string): Promise<void> {
    for (const [name, connector] of Object.entries(this.sinks)) {
      const writer = await connector.open({ resume: resume?.[name], writer: writerId });
      opened.push(writer);
      this.writers.set(name, writer);
      if (name === 'dlq') outcomes.dlq = writer;
      for (const handles of [this.graph.sinks, this.graph.lateSinks]) {
        const handle = handles.get(name);
        if (handle) handle.writer = writer;
      }
    }
  }

  /**
   * Flushes sinks whose buffers are full; live runs flush everything, for latency. A writer that can
   * hand records off without waiting for their acknowledgement does (checkpoints and the end wait).
   */
  async flushSome(all: boolean): Promise<void> {
    for (const writer of this.writers.values()) if (writer.pending >= (all ? 1 : FLUSH_BYTES)) await (writer.handOff?.() ?? writer.flush());
  }

  /**
   * The open transactions of exactly-once sinks (SinkWriter.transaction), with the sinks writing in
   * each. They commit at checkpoints, so they need some; and a checkpoint commits them one after the
   * other, so only one transaction can be exactly-once with the checkpoint.
   */
  transactions(checkpointing: boolean): Map<SinkTransaction, string[]> {
    const transactions = new Map<SinkTransaction, string[]>();
    for (const [name, writer] of this.writers) if (writer.transaction) transactions.set(writer.transaction, [...(transactions.get(writer.transaction) ?? []), name]);
    const names = [...transactions.values()].flat();
    if (names.length > 0 && !checkpointing) {
      throw new RtmlError('RTML_E_BINDING', `exactly-once sink(s) ${names.join(', ')} commit their outputs at checkpoints: add --checkpoint-dir`);
    }
    if (transactions.size > 1) {
      throw new RtmlError('RTML_E_BINDING', `exactly-once sinks ${names.join(', ')} write in ${transactions.size} separate transactions, which no checkpoint can commit together: bind them to one Kafka cluster (one transaction), or make all but one at-least-once`);
    }
    return transactions;
  }

  /** Resuming from a pending checkpoint: whether sink `name`'s marker was committed (SinkConnector.committedMarker). */
  committedMarker(name: string, marker: unknown, writerId: string): Promise<boolean> {
    const connector = this.sinks[name];
    if (connector?.committedMarker === undefined) throw new RtmlError('RTML_E_CHECKPOINT', `the pending checkpoint has a transaction marker of sink '${name}', which is not bound to a transactional sink now`);
    return connector.committedMarker(marker, writerId);
  }

  /** Writes out every sink; returns the positions of those that have one (see SinkWriter.checkpoint). */
  async flushAll(): Promise<Record<string, unknown>> {
    const positions: Record<string, unknown> = {};
    for (const [name, writer] of this.writers) {
      if (writer.checkpoint) positions[name] = await writer.checkpoint();
      else await writer.flush();
    }
    return positions;
  }

  private describe(): string {
    const { graph } = this;
    const late = [...graph.lateSinks.keys()].filter((n) => !graph.sinks.has(n));
    return (
      `topology '${this.topology}' has sources: ${[...graph.declared.keys()].join(', ') || '(none)'}; ` +
      `sinks: ${[...graph.sinks.keys()].join(', ') || '(none)'}` +
      (late.length ? `; late outputs (optional): ${late.join(', ')}` : '') +
      `; dead letters (optional): dlq`
    );
  }
}
