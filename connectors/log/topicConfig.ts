import fs from 'node:fs';
import { RtmlError } from '../../engine/errors.ts';
import { topicConfigPath, writeFileAtomic } from './layout.ts';

/** `<topic>/topic.json`. */
export interface TopicConfig {
  readonly version: 1;
  readonly partitions: number;
  /** A partition rolls to a new segment before a record would take the current one past this size. */
  readonly segmentBytes: number;
}

export const DEFAULT_SEGMENT_BYTES = 128 * 1024 * 1024;
const MAX_PARTITIONS = 4096;

/** The topic's config, or undefined when `topic` holds no topic.json. */
export function readTopicConfig(topic: string): TopicConfig | undefined {
  const file = topicConfigPath(topic);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RtmlError('RTML_E_LOG', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RtmlError('RTML_E_LOG', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const cfg = json as Partial<Record<keyof TopicConfig, unknown>> | null;
  if (typeof cfg !== 'object' || cfg === null || cfg.version !== 1) {
    throw new RtmlError('RTML_E_LOG', `${file}: expected { "version": 1, … }, got ${text.slice(0, 80)}`);
  }
  checkPartitions(cfg.partitions, file);
  checkSegmentBytes(cfg.segmentBytes, file);
  return { version: 1, partitions: cfg.partitions as number, segmentBytes: cfg.segmentBytes as number };
}

export function writeTopicConfig(topic: string, config: TopicConfig): void {
  writeFileAtomic(topicConfigPath(topic), `${JSON.stringify(config, null, 2)}\n`);
}

/** Throws unless `n` is a valid partition count; `where` names what to fix. */
export function checkPartitions(n: unknown, where: string): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PARTITIONS) {
    throw new RtmlError('RTML_E_LOG', `${where}: partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${String(n)}`);
  }
}

export function checkSegmentBytes(n: unknown, where: string): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 64) {
    throw new RtmlError('RTML_E_LOG', `${where}: segmentBytes must be an integer >= 64, got ${String(n)}`);
  }
}
