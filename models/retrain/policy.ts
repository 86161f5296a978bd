import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import { parseDuration } from '../../engine/duration.ts';
import type { Stage } from '../registry/index.ts';
import type { GbdtParams } from '../training/index.ts';
import { METRICS, type Metric, type MetricName } from './metric.ts';

/**
 * A retraining policy: a YAML file naming the model, what makes it retrain, the data it is
 * retrained on, how the challenger is judged against the production version and where a winner
 * goes. Checked when it is loaded (TypeBox schema, Ajv), every error naming the key to fix;
 * docs/retraining.md documents every field.
 */

/** The challenger trains on the first 80 % of the rows (trainModel), so only the last 20 % are rows it never saw. */
const MAX_HOLDOUT = 0.2;

const strict = { additionalProperties: false } as const;
const name = Type.String({ minLength: 1 });
const duration = Type.Unsafe<string | number>({ type: ['string', 'number'] });
const metricName = Type.Unsafe<MetricName>({ type: 'string', enum: Object.keys(METRICS) });
const stage = Type.Unsafe<Stage>({ type: 'string', enum: ['production', 'staging'] });

const PolicySchema = Type.Object(
  {
    model: name,
    triggers: Type.Object(
      {
        drift: Type.Optional(Type.Object({ windows: Type.Integer({ minimum: 1 }) }, strict)),
        accuracy: Type.Optional(
          Type.Object(
            {
              metric: metricName,
              below: Type.Optional(Type.Number()),
              drop: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
              above: Type.Optional(Type.Number()),
              rise: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
              min_labelled: Type.Optional(Type.Integer({ minimum: 1 })),
            },
            strict,
          ),
        ),
        schedule: Type.Optional(Type.Object({ every: duration }, strict)),
      },
      strict,
    ),
    data: Type.Object(
      {
        views: Type.Array(name, { minItems: 1, uniqueItems: true }),
        labels: name,
        entity: Type.Optional(name),
        time: Type.Optional(name),
        range: Type.Object({ last: duration }, strict),
      },
      strict,
    ),
    training: Type.Object(
      {
        label: name,
        features: Type.Array(name, { minItems: 1, uniqueItems: true }),
        trees: Type.Optional(Type.Integer({ minimum: 1 })),
        depth: Type.Optional(Type.Integer({ minimum: 1 })),
        learning_rate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
      },
      strict,
    ),
    evaluation: Type.Optional(
      Type.Object(
        {
          holdout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_HOLDOUT })),
          metric: Type.Optional(metricName),
          margin: Type.Optional(Type.Number({ minimum: 0 })),
        },
        strict,
      ),
    ),
    promotion: Type.Optional(Type.Object({ to: stage }, strict)),
  },
  strict,
);

type PolicyFile = Static<typeof PolicySchema>;

export interface AccuracyTrigger {
  readonly metric: Metric;
  /** Fires when the metric is worse than this (auc `below`, log_loss `above`)… */
  readonly bound?: number;
  /** …or worse than the production version's recorded figure by at least this (auc `drop`, log_loss `rise`). */
  readonly worsening?: number;
  /** Windows with fewer labelled events are passed over. */
  readonly minLabelled: number;
}

export interface RetrainPolicy {
  /** The file it was read from, for messages. */
  readonly file: string;
  readonly model: string;
  readonly triggers: {
    readonly drift?: { readonly windows: number };
    readonly accuracy?: AccuracyTrigger;
    readonly schedule?: { readonly everyMs: number };
  };
  readonly data: {
    readonly views: readonly string[];
    /** Resolved against the policy file's directory. */
    readonly labels: string;
    readonly entity: string;
    readonly time: string;
    readonly lastMs: number;
  };
  readonly training: { readonly label: string; readonly features: readonly string[]; readonly params: Partial<GbdtParams> };
  readonly evaluation: { readonly holdout: number; readonly metric: Metric; readonly margin: number };
  /** production: a winning challenger is promoted; staging: it stays in staging for a person to promote. */
  readonly promotion: Stage;
}

const DEFAULT_MIN_LABELLED = 100;

// allErrors: a misspelt key is also a missing one, and the misspelling is what to report.
const ajv = new Ajv2020({ strictNumbers: true, verbose: true, allErrors: true, allowUnionTypes: true });
const validate = ajv.compile<PolicyFile>(PolicySchema);

export function loadPolicy(file: string): RetrainPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usage(`--policy ${file} cannot be read: ${errorMessage(err)}`);
  }
  return parsePolicy(text, file);
}

/** Parses and checks a policy's YAML text; `file` names it in errors and anchors relative paths. */
export function parsePolicy(text: string, file: string): RetrainPolicy {
  const doc = parseDocument(text);
  const syntax = doc.errors[0];
  if (syntax !== undefined) throw usage(`${file}: not YAML: ${syntax.message.split('\n')[0]}`);
  const p: unknown = doc.toJS();
  if (!validate(p)) {
    const errors = validate.errors ?? [];
    throw usage(`${file}: ${schemaError(errors.find((e) => e.keyword === 'additionalProperties') ?? errors[0])}`);
  }
  const triggers = p.triggers;
  if (triggers.drift === undefined && triggers.accuracy === undefined && triggers.schedule === undefined) {
    throw usage(`${file}: triggers: name at least one of drift, accuracy, schedule (or retrain by hand with --force)`);
  }
  const evaluation = p.evaluation ?? {};
  return {
    file,
    model: p.model,
    triggers: {
      drift: triggers.drift,
      accuracy: triggers.accuracy === undefined ? undefined : accuracyTrigger(triggers.accuracy, file),
      schedule: triggers.schedule === undefined ? undefined : { everyMs: positiveDuration(triggers.schedule.every, `${file}: triggers.schedule.every`) },
    },
    data: {
      views: p.data.views,
      labels: resolve(dirname(file), p.data.labels),
      entity: p.data.entity ?? 'entity',
      time: p.data.time ?? 'time',
      lastMs: positiveDuration(p.data.range.last, `${file}: data.range.last`),
    },
    training: {
      label: p.training.label,
      features: p.training.features,
      params: { trees: p.training.trees, depth: p.training.depth, learningRate: p.training.learning_rate },
    },
    evaluation: { holdout: evaluation.holdout ?? MAX_HOLDOUT, metric: METRICS[evaluation.metric ?? 'auc'], margin: evaluation.margin ?? 0 },
    promotion: p.promotion?.to ?? 'production',
  };
}

/** Exactly one threshold, of the metric's own direction: `below`/`drop` for auc, `above`/`rise` for log_loss. */
function accuracyTrigger(a: NonNullable<PolicyFile['triggers']['accuracy']>, file: string): AccuracyTrigger {
  const metric = METRICS[a.metric];
  const given = (['below', 'drop', 'above', 'rise'] as const).filter((k) => a[k] !== undefined);
  const own = [metric.boundKey, metric.worseningKey] as string[];
  const foreign = given.find((k) => !own.includes(k));
  if (foreign !== undefined) {
    throw usage(`${file}: triggers.accuracy.${foreign} does not apply to ${metric.name} (${metric.higherIsBetter ? 'higher' : 'lower'} is better): use ${own.join(' or ')}`);
  }
  if (given.length !== 1) throw usage(`${file}: triggers.accuracy: give one of ${own.join(', ')} (got ${given.length === 0 ? 'neither' : 'both'})`);
  return { metric, bound: a[metric.boundKey], worsening: a[metric.worseningKey], minLabelled: a.min_labelled ?? DEFAULT_MIN_LABELLED };
}

function positiveDuration(value: string | number, what: string): number {
  const ms = parseDuration(value, what);
  if (ms === 0) throw new RtmlError('RTML_E_DURATION', `${what}: must be longer than 0`);
  return ms;
}

/** One Ajv error as "<key path> <what is wrong>". */
function schemaError(e: ErrorObject | undefined): string {
  if (e === undefined) return 'does not match the policy schema';
  const at = e.instancePath.slice(1).split('/').filter(Boolean).join('.');
  const key = (last: string) => (at === '' ? last : `${at}.${last}`);
  const got = `, got ${JSON.stringify(e.data)}`;
  switch (e.keyword) {
    case 'required':
      return `${key((e.params as { missingProperty: string }).missingProperty)} is missing`;
    case 'additionalProperties': {
      const known = Object.keys((e.parentSchema as TSchema).properties as object);
      return `${key((e.params as { additionalProperty: string }).additionalProperty)} is not a policy key (${at === '' ? 'the policy' : at} takes ${known.join(', ')})`;
    }
    case 'enum':
      return `${at} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}${got}`;
    default:
      return `${at === '' ? 'the policy' : at} ${e.message ?? 'is not valid'}${got}`;
  }
}

function usage(message: string): RtmlError {
  return new RtmlError('RTML_E_USAGE', message);
}
