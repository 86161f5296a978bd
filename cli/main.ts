import { Command, InvalidArgumentError } from 'commander';
import { ErrorCodes, RtmlError, errorMessage } from '../engine/errors.ts';
import { uriHelp } from '../connectors/uriForms.ts';
import { rateOption, sizeOption } from './options.ts';
import { logLine } from '../engine/log.ts';

// `rtml log cat … | head`: the reader closed the pipe and wants no more; that is the end, not a crash.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

/** A command's action, its module loaded only when it runs: `rtml serve` need not load the trainer or Parquet. */
function lazy<A extends unknown[]>(load: () => Promise<(...args: A) => unknown>): (...args: A) => Promise<void> {
  return async (...args) => void (await (await load())(...args));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

function learningRate(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError('expected a number in (0, 1]');
  return n;
}

const program = new Command('rtml')
  .description('rtml: real-time ML stream processing')
  .showHelpAfterError()
  .option('--log-format <format>', 'text (lines as they are) or json (one JSON object per line, with level and time, for log collectors)', 'text')
  .option('--log-level <level>', 'debug, info, warn or error: lines below it are not written', 'info')
  .option('--config <file.yaml>', 'settings for every command (top level) or one (under its name), below the command line and RTML_<OPTION> variables (default: RTML_CONFIG; see docs/configuration.md)')
  // Before the command runs, every line it reports goes through the chosen format.
  .hook('preAction', async () => {
    const { logFormat, logLevel } = program.opts<{ logFormat: string; logLevel: string }>();
    if (logFormat !== 'text' || logLevel !== 'info') (await import('./logging.ts')).configureLogging(logFormat, logLevel);
  });

program
  .command('run')
  .description('run a topology file over its sources until bounded input ends (or live with --follow)')
  .argument('<topology>', 'topology file (.ts) whose default export is defineTopology(...)')
  .option('--source <name=uri>', 'bind a source to a URI (schemes below; repeatable)', collect, [])
  .option('--sink <name=uri>', 'bind a sink to a URI (schemes below); "dlq" takes dead letters (repeatable)', collect, [])
  .option('--from <position>', 'where sources start without a checkpoint: earliest, latest, or a time (ISO date-time or t:<epoch ms>: each partition from its first record stamped at or after it)', 'earliest')
  .option('--follow', 'keep running and process new appends live', false)
  .option('--batch-size <n>', 'records per source read', positiveInt)
  .option('--online <uri>', 'online feature store: redis://host:port[/db] or memory: (default memory:)')
  .option('--offline <uri>', 'offline feature store: postgres://user@host:port/db or pglite:<dir> (default pglite:data/pglite)')
  .option('--registry <uri>', "model registry for score('registry:NAME'): postgres://… or pglite:<dir> (default pglite:data/pglite)")
  .option('--artifacts <dir>', 'model artifact directory (default data/models)')
  .option('--checkpoint-dir <dir>', 'save state and positions here and resume from them after a crash')
  .option('--checkpoint-interval <duration>', 'checkpoint this often, e.g. 10s (default 10s)')
  .option('--checkpoint-every <n>', 'also checkpoint every n events', positiveInt)
  .option('--schema-registry <url>', 'Confluent Schema Registry for Avro on kafka:// bindings: http(s)://[user:password@]host:port (default: local schema ids)')
  .option('--scale-out', "run as one of several workers in the Kafka source's consumer group: each partition is a task with its own state, checkpointed under --checkpoint-dir (shared by the workers) and handed over when the group moves it", false)
  .option('--exactly-once', 'kafka:// sinks write in transactions that each checkpoint commits (with the Kafka sources\' offsets): readers with isolation.level=read_committed see every result exactly once (needs --checkpoint-dir)', false)
  .option('--metrics-port <port>', 'serve Prometheus metrics (GET /metrics), GET /health and the live dashboard (GET /dashboard) on this port while the run runs (0: any free port, printed)', nonNegativeInt)
  .option('--metrics-host <host>', 'address the metrics server listens on', '127.0.0.1')
  .option('--status-interval <duration>', 'print a status line to stderr this often, e.g. 30s, when stderr is not a terminal (default off)')
  .option('--monitor-db <uri>', 'where monitor() and monitorAccuracy() write their rows: postgres://user@host:port/db or pglite:<dir> (default: none, records go only downstream and to metrics)')
  .option('--no-progress', 'no progress bar')
  .addHelpText('after', uriHelp)
  .action(lazy(async () => (await import('./run.ts')).runCommand));

program
  .command('monitor')
  .description("watch a registered model in production: drift of its inputs and score against each version's reference profile per window, and online accuracy per version once outcomes arrive (see docs/monitoring.md)")
  .argument('<model>', 'registered model name')
  .option('--source <name=uri>', 'predictions=URI (what score() wrote: features, score, version) and optionally outcomes=URI (repeatable)', collect, [])
  .option('--sink <name=uri>', 'drift=URI and accuracy=URI: where the records go besides the database and metrics (repeatable)', collect, [])
  .option('--window <duration>', 'tumbling event-time window the data is compared in', '1h')
  .option('--time <field>', 'event-time field of predictions and outcomes', 'ts')
  .option('--out-of-order <duration>', 'how far out of order events may arrive', '5s')
  .option('--label <field>', "the outcomes' label field (0/1/true/false): enables online accuracy")
  .option('--join-by <field>', 'the field a prediction and its outcome share', 'txn_id')
  .option('--label-within <duration>', 'how long after a prediction its outcome may come', '1d')
  .option('--threshold <x>', 'decision threshold precision and recall are taken at', Number, 0.5)
  .option('--monitor-db <uri>', 'where the drift and accuracy rows go (default: the --registry database)')
  .option('--retrain <policy.yaml>', 'also run a pass of this retraining policy (rtml retrain) every --retrain-every; training runs on a worker thread')
  .option('--retrain-every <duration>', 'how often the policy is checked', '1m')
  .option('--from <position>', 'where sources start without a checkpoint: earliest, latest, or a time', 'earliest')
  .option('--follow', 'keep running and process new predictions live', false)
  .option('--batch-size <n>', 'records per source read', positiveInt)
  .option('--registry <uri>', 'model registry (reference profiles): postgres://… or pglite:<dir> (default pglite:data/pglite)')
  .option('--artifacts <dir>', 'model artifact directory (default data/models)')
  .option('--offline <uri>', 'offline feature store, for --retrain (default pglite:data/pglite)')
  .option('--checkpoint-dir <dir>', 'save state and positions here and resume from them after a crash')
  .option('--checkpoint-interval <duration>', 'checkpoint this often, e.g. 10s (default 10s)')
  .option('--metrics-port <port>', 'serve Prometheus metrics (GET /metrics) and the live dashboard (GET /dashboard) on this port while it runs (0: any free port, printed)', nonNegativeInt)
  .option('--metrics-host <host>', 'address the metrics server listens on', '127.0.0.1')
  .option('--no-progress', 'no progress bar')
  .action(lazy(async () => (await import('./monitor.ts')).monitorCommand));

program
  .command('replay')
  .description('re-run a topology over a range of its sources (bounded), with a progress bar')
  .argument('<topology>', 'topology file (.ts)')
  .option('--source <name=uri>', 'bind a source to a URI (schemes below; repeatable)', collect, [])
  .option('--sink <name=uri>', 'bind a sink to a URI (schemes below; repeatable)', collect, [])
  .option('--from <position>', 'start: an offset, an ISO date-time or t:<epoch ms> (default: the beginning)')
  .option('--to <position>', 'end, inclusive: an offset, an ISO date-time or t:<epoch ms> (default: the end)')
  .option('--complete-windows', 'emit only windows whose events all lie in the range (default: every window fires, those the range cuts counted and never written to the feature stores)', false)
  .option('--batch-size <n>', 'records per source read', positiveInt)
  .option('--online <uri>', 'online feature store (default memory:)')
  .option('--offline <uri>', 'offline feature store (default pglite:data/pglite)')
  .option('--schema-registry <url>', 'Confluent Schema Registry for Avro on kafka:// bindings (default: local schema ids)')
  .option('--metrics-port <port>', 'serve Prometheus metrics (GET /metrics), GET /health and the live dashboard (GET /dashboard) on this port while the replay runs (0: any free port, printed)', nonNegativeInt)
  .option('--metrics-host <host>', 'address the metrics server listens on', '127.0.0.1')
  .option('--status-interval <duration>', 'print a status line to stderr this often when stderr is not a terminal (default off)')
  .option('--no-progress', 'no progress bar')
  .addHelpText('after', uriHelp)
  .action(async (topology: string, options: { source: string[]; sink: string[]; from?: string; to?: string; completeWindows: boolean; batchSize?: number; progress: boolean; online?: string; offline?: string; schemaRegistry?: string; metricsPort?: number; metricsHost?: string; statusInterval?: string }) =>
    (await import('./run.ts')).runCommand(topology, { ...options, from: 'earliest', follow: false, range: { from: options.from, to: options.to }, cutWindows: options.completeWindows ? 'drop' : 'mark' }),
  );

program
  .command('produce')
  .description('validate JSON lines from stdin against an Avro schema and append them to the embedded log')
  .argument('<log-uri>', 'log:<dir>/<topic>')
  .requiredOption('--schema <file.avsc>', 'Avro schema of the events')
  .requiredOption('--key <field>', 'field whose value keys (and partitions) each record')
  .option('--partitions <n>', 'partitions when the topic is created (default 1)', positiveInt)
  .option('--time <field>', "event-time field (default: the schema's timestamp field, else 'ts')")
  .action(lazy(async () => (await import('./produce.ts')).produceCommand));

program
  .command('backfill')
  .description('recompute feature views from the log into the offline store (and online with --online), beside a live run (Postgres offline store); with a range, only the windows wholly inside it')
  .argument('<topology>', 'topology file (.ts) that materializes the views')
  .option('--source <name=uri>', 'bind a source (repeatable)', collect, [])
  .option('--view <name>', 'only this feature view (repeatable; default all the topology materializes)', collect, [])
  .option('--offline <uri>', 'offline feature store: postgres://user@host:port/db or pglite:<dir> (default pglite:data/pglite)')
  .option('--online <uri>', 'also write the latest values to this online store (redis://host:port)')
  .option('--from <position>', 'start: an offset, an ISO date-time or t:<epoch ms>')
  .option('--to <position>', 'end, inclusive: an offset, an ISO date-time or t:<epoch ms>')
  .option('--batch-size <n>', 'records per source read', positiveInt)
  .option('--no-progress', 'no progress bar')
  .action(lazy(async () => (await import('./backfill.ts')).backfillCommand));

const features = program.command('features').description('feature stores: online lookups, registered views, training sets');
features
  .command('get')
  .description('latest online values of entities in a feature view, one JSON line per key')
  .argument('<view>', 'feature view name')
  .argument('<keys...>', 'entity keys')
  .option('--online <uri>', 'online store: redis://host:port[/db]', 'redis://127.0.0.1:6379')
  .action(lazy(async () => (await import('./features.ts')).featuresGetCommand));
features
  .command('list')
  .description('feature views registered in the offline store')
  .option('--offline <uri>', 'offline store: postgres://user@host:port/db or pglite:<dir>', 'pglite:data/pglite')
  .action(lazy(async () => (await import('./features.ts')).featuresListCommand));
features
  .command('verify')
  .description("recompute a view from the log and compare it with the online store and the offline store's latest rows")
  .argument('<topology>', 'topology file (.ts) that materializes the view')
  .requiredOption('--view <name>', 'feature view to check')
  .option('--source <name=uri>', 'bind a source (repeatable)', collect, [])
  .option('--online <uri>', 'online store: redis://host:port[/db]', 'redis://127.0.0.1:6379')
  .option('--offline <uri>', 'offline store: postgres://user@host:port/db or pglite:<dir>', 'pglite:data/pglite')
  .action(lazy(async () => (await import('./verify.ts')).featuresVerifyCommand));
features
  .command('export')
  .description('point-in-time training set: label rows joined with feature values as of their time, never later')
  .option('--view <name>', 'feature view to join (repeatable)', collect, [])
  .requiredOption('--labels <file.jsonl>', 'label rows: JSON lines with an entity and a time field')
  .requiredOption('--out <file>', 'output file: .jsonl, .csv or .parquet')
  .option('--offline <uri>', 'offline store: postgres://user@host:port/db or pglite:<dir>', 'pglite:data/pglite')
  .option('--entity <field>', 'entity field of the label rows', 'entity')
  .option('--time <field>', 'time field of the label rows (epoch ms or ISO-8601)', 'time')
  .action(lazy(async () => (await import('./features.ts')).featuresExportCommand));

program
  .command('train')
  .description('train gradient-boosted trees on a training set (last 20 % of rows held out) and write an ONNX model')
  .requiredOption('--data <file>', 'training set: .csv, .jsonl or .parquet, as rtml features export writes it')
  .requiredOption('--label <column>', 'label column: 0/1 or true/false')
  .requiredOption('--features <list>', 'comma-separated feature columns, in the order the model takes them')
  .requiredOption('--out <file.onnx>', 'ONNX model to write')
  .option('--trees <n>', 'boosting rounds (default 100)', positiveInt)
  .option('--depth <n>', 'maximum tree depth (default 6)', positiveInt)
  .option('--learning-rate <x>', 'shrinkage per tree, in (0, 1] (default 0.1)', learningRate)
  .action(async (options) => void (await (await import('./train.ts')).trainCommand(options)));

program
  .command('retrain')
  .description("one pass of a model's retraining policy: check its triggers, train on recent labels, register the challenger in staging, promote it when it beats production (see docs/retraining.md)")
  .requiredOption('--policy <file.yaml>', 'retraining policy')
  .option('--force', 'retrain even when no trigger fires', false)
  .option('--registry <uri>', 'model registry: postgres://user@host:port/db or pglite:<dir>', 'pglite:data/pglite')
  .option('--artifacts <dir>', 'model artifact directory', 'data/models')
  .option('--offline <uri>', 'offline feature store the training set is exported from: postgres://user@host:port/db or pglite:<dir>', 'pglite:data/pglite')
  .option('--monitor-db <uri>', "where rtml monitor writes the drift and accuracy history the triggers read (default: the --registry database)")
  .option('--json', 'the outcome as one JSON line instead of a line per step', false)
  .action(lazy(async () => (await import('./retrain.ts')).retrainCommand));

/** --registry and --artifacts, shared by every `rtml models` command. */
function registryOptions(command: Command): Command {
  return command
    .option('--registry <uri>', 'registry database: postgres://user@host:port/db or pglite:<dir>', 'pglite:data/pglite')
    .option('--artifacts <dir>', 'artifact directory (models stored as <sha256>.onnx)', 'data/models');
}

const models = program.command('models').description('model registry: ONNX model versions and their routing (production, staging, A/B, shadow)');
registryOptions(
  models
    .command('register')
    .description('validate an ONNX model and register it as the next version of <name> (the same bytes again: the existing version)')
    .argument('<name>', 'model name: letters, digits, _ - .')
    .argument('<file>', 'ONNX model file, e.g. from rtml train')
    .option('--stage <stage>', 'also promote it: staging or production')
    .option('--features <list>', 'comma-separated feature names it takes, in column order (checked against the model)')
    .option('--feature-change <why>', 'why its feature list differs from the previous version (else such a version is refused)'),
).action(async (name: string, file: string, options) => void (await (await import('./models.ts')).modelsRegisterCommand(name, file, options)));
registryOptions(
  models
    .command('list')
    .description('registered versions with their roles (production, staging, ab:<pct>, shadow)')
    .argument('[name]', 'only this model')
    .option('--json', 'JSON lines instead of a table', false),
).action(lazy(async () => (await import('./models.ts')).modelsListCommand));
registryOptions(
  models
    .command('promote')
    .description('make a version the production version (the previous one stays for rollback) or add it to staging')
    .argument('<name>', 'model name')
    .argument('<version>', 'version, e.g. 3 or v3')
    .requiredOption('--stage <stage>', 'production or staging'),
).action(async (name: string, version: string, options) => void (await (await import('./models.ts')).modelsPromoteCommand(name, version, options)));
registryOptions(models.command('rollback').description('production goes back to the previous production version').argument('<name>', 'model name')).action(
  async (name: string, options) => void (await (await import('./models.ts')).modelsRollbackCommand(name, options)),
);
registryOptions(
  models
    .command('ab')
    .description('split entities between versions by a hash of their key (whole percentages summing to 100); "none" ends the split')
    .argument('<name>', 'model name')
    .argument('<splits...>', '<version>:<percent> pairs, e.g. 2:90 3:10, or none'),
).action(async (name: string, splits: string[], options) => void (await (await import('./models.ts')).modelsAbCommand(name, splits, options)));
registryOptions(
  models
    .command('shadow')
    .description('versions scored beside the serving one, their results only recorded; "none" ends shadowing')
    .argument('<name>', 'model name')
    .argument('<versions...>', 'versions, e.g. 4 5, or none'),
).action(async (name: string, versions: string[], options) => void (await (await import('./models.ts')).modelsShadowCommand(name, versions, options)));
registryOptions(
  models
    .command('profile')
    .description("a version's reference profile: its training data per feature (count, null rate, mean, std, quantiles; categorical: frequencies) and its score")
    .argument('<name>', 'model name')
    .argument('<version>', 'version, e.g. 3 or v3')
    .option('--json', 'the whole profile as JSON (with its quantile sketches)', false),
).action(async (name: string, version: string, options) => void (await (await import('./models.ts')).modelsProfileCommand(name, version, options)));
registryOptions(
  models
    .command('history')
    .description("a model's audit history: versions registered, routing changes and retraining decisions, with who made each and when")
    .argument('<name>', 'model name')
    .option('--json', 'JSON lines instead of a table', false),
).action(async (name: string, options) => void (await (await import('./models.ts')).modelsHistoryCommand(name, options)));
registryOptions(models.command('routing').description("a model's current routing").argument('<name>', 'model name').option('--json', 'as JSON', false)).action(
  async (name: string, options) => void (await (await import('./models.ts')).modelsRoutingCommand(name, options)),
);

program
  .command('serve')
  .description('HTTP and WebSocket scoring with the registry\'s models and online features (also the Open Inference Protocol v2)')
  .option('--port <n>', 'port (0 picks a free one)', nonNegativeInt, 8000)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option('--online <uri>', 'online feature store for requests naming an entity: redis://host:port[/db]', 'redis://127.0.0.1:6379')
  .option('--registry <uri>', 'model registry: postgres://… or pglite:<dir> (default pglite:data/pglite)')
  .option('--artifacts <dir>', 'model artifact directory (default data/models)')
  .option('--model <name>', 'serve only this model (repeatable; default every model in the registry)', collect, [])
  .option('--ingest <name=uri>', 'POST /events/NAME appends to log:<dir>/<topic>?schema=<file.avsc>&key=<field> (repeatable)', collect, [])
  .option('--api-keys <file>', 'require API keys from this file (rtml keys create); JWTs: set RTML_JWT_SECRET or --jwks-url')
  .option('--jwks-url <url>', 'verify JWT bearer tokens against this JWKS')
  .option('--jwt-issuer <iss>', 'required JWT issuer')
  .option('--jwt-audience <aud>', 'required JWT audience')
  .option('--open <scope>', 'scope needing no credentials: metrics, read, predict or ingest (repeatable)', collect, [])
  .option('--rate <limit>', 'default per-client rate limit, e.g. 1000/s or 1000/s:2000 (burst)', rateOption)
  .option('--max-body <size>', 'largest request body, e.g. 1mb', sizeOption, 1 << 20)
  .option('--body-timeout <duration>', 'a request body must arrive within this', '10s')
  .option('--threshold <x>', 'score at or above which label is 1', Number, 0.5)
  .option('--tls-cert <file.pem>', 'serve HTTPS and WSS with this certificate (chain), with --tls-key (a key passphrase: RTML_TLS_KEY_PASSPHRASE)')
  .option('--tls-key <file.pem>', 'the private key of --tls-cert')
  .option('--audit-log <file>', 'append who used which credential, and every refused one, to this JSON-lines file')
  .option('--drain-timeout <duration>', 'on SIGTERM/SIGINT, answer the requests in flight for up to this long before exiting', '10s')
  .action(lazy(async () => (await import('./serve.ts')).serveCommand));

const keys = program.command('keys').description('API keys for rtml serve (stored hashed)');
keys
  .command('create')
  .argument('<id>', 'name of the client')
  .description('create a key, print it once, store its sha256')
  .requiredOption('--file <keys.json>', 'key file (created when missing)')
  .requiredOption('--scopes <list>', 'comma-separated: predict, read, ingest, metrics')
  .option('--rate <limit>', 'its rate limit, e.g. 100/s or 100/s:200', rateOption)
  .action(lazy(async () => (await import('./serve.ts')).keysCreateCommand));

const log = program.command('log').description('inspect the embedded log');
log
  .command('info')
  .argument('<log-uri>', 'log:<dir>/<topic>')
  .description('partitions, offsets, segments and schema ids')
  .action(lazy(async () => (await import('./log.ts')).logInfoCommand));
log
  .command('cat')
  .argument('<log-uri>', 'log:<dir>/<topic>')
  .description('print records decoded as JSON lines')
  .option('--partition <p>', 'only this partition', nonNegativeInt)
  .option('--offset <n>', 'start at this offset', nonNegativeInt)
  .option('--limit <n>', 'at most this many records per partition', positiveInt)
  .option('--follow', 'keep printing records as they are appended (until Ctrl-C)', false)
  .action(lazy(async () => (await import('./log.ts')).logCatCommand));

try {
  // The config file and the environment fill in options before the command line is parsed (cli/config.ts).
  (await import('./config.ts')).applyConfig(program, process.argv);
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof RtmlError) {
    logLine(`rtml: error ${err.code} (${ErrorCodes[err.code]}): ${err.message}`, 'error');
  } else {
    logLine(`rtml: unexpected error: ${errorMessage(err)}`, 'error');
    if (process.env.RTML_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
  }
  process.exitCode = process.exitCode || 1;
}
