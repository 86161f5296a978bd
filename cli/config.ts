import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { parse } from 'yaml';
import { errorMessage, RtmlError } from '../engine/errors.ts';

/**
 * Settings from a config file and the environment, for deployments (a container sets a few
 * variables, a ConfigMap mounts a file). For each option of the command being run, the first of:
 *
 * 1. the command line;
 * 2. the environment: `RTML_<OPTION>` (`--checkpoint-dir` → `RTML_CHECKPOINT_DIR`);
 * 3. the config file (`rtml --config rtml.yaml …` or `RTML_CONFIG`): a top-level key applies to
 *    every command that has that option (`registry: postgres://…`), a key under a command's name to
 *    that command only (`serve: { port: 8000 }`; `models register: {…}` for a subcommand);
 * 4. the option's default.
 *
 * The file is checked whole at start: a key that is no option of any command (or not of the
 * command it is under), or a value its option refuses, is an error naming the key.
 */

export type Settings = Readonly<Record<string, unknown>>;

/** The options of every command, by the path of names that runs it ('serve', 'models register'). */
function commandsOf(root: Command, prefix = ''): Map<string, Command> {
  const found = new Map<string, Command>();
  for (const sub of root.commands) {
    const path = `${prefix}${sub.name()}`;
    found.set(path, sub);
    for (const [p, c] of commandsOf(sub, `${path} `)) found.set(p, c);
  }
  return found;
}

const longName = (option: Option): string => option.long!.replace(/^--(no-)?/, '');

/** Reads and checks a config file; errors name the file and the key. */
export function loadConfig(file: string, program: Command): Settings {
  let parsed: unknown;
  try {
    parsed = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RtmlError('RTML_E_USAGE', `${file}: ${errorMessage(err)}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new RtmlError('RTML_E_USAGE', `${file}: expected a mapping of settings, got ${JSON.stringify(parsed).slice(0, 60)}`);
  const commands = commandsOf(program);
  const anyCommand = new Set([...commands.values()].flatMap((c) => c.options.filter((o) => o.long !== undefined).map(longName)));
  const global = new Set(program.options.filter((o) => o.long !== undefined).map(longName));
  for (const [key, value] of Object.entries(parsed)) {
    const command = commands.get(key);
    if (command !== undefined) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RtmlError('RTML_E_USAGE', `${file}: ${key} must be a mapping of rtml ${key}'s options`);
      const own = new Set(command.options.filter((o) => o.long !== undefined).map(longName));
      for (const name of Object.keys(value)) {
        if (!own.has(name)) throw new RtmlError('RTML_E_USAGE', `${file}: ${key}.${name}: rtml ${key} has no option --${name} (it has ${[...own].map((o) => `--${o}`).join(', ')})`);
      }
    } else if (!anyCommand.has(key) && !global.has(key)) {
      throw new RtmlError('RTML_E_USAGE', `${file}: ${key} is neither an option of an rtml command nor a command's name`);
    }
  }
  return parsed as Settings;
}

/**
 * Sets every command's options from the environment, then the config file named by `--config` in
 * `argv` (or RTML_CONFIG), before the command line is parsed: what the command line gives then
 * replaces them (a repeatable option such as --source adds to them), and an option the command
 * requires may come from either.
 */
export function applyConfig(program: Command, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const at = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  const file = at < 0 ? env.RTML_CONFIG : argv[at]!.startsWith('--config=') ? argv[at]!.slice('--config='.length) : argv[at + 1];
  const config = file === undefined ? {} : loadConfig(file, program);
  applySettings(program, '', config, file ?? '', env);
  for (const [path, command] of commandsOf(program)) applySettings(command, path, config, file ?? '', env);
}

/** Sets the options of `command` not set otherwise, from the environment, then `config`. */
function applySettings(command: Command, path: string, config: Settings, file: string, env: NodeJS.ProcessEnv = process.env): void {
  const section = (config[path] ?? {}) as Settings;
  for (const option of command.options) {
    if (option.long === undefined) continue;
    const key = option.attributeName();
    const name = longName(option);
    const variable = `RTML_${name.toUpperCase().replace(/-/g, '_')}`;
    const fromEnv = env[variable];
    const [value, origin] =
      fromEnv !== undefined ? [fromEnv, variable] : name in section ? [section[name], `${file}: ${path}.${name}`] : Object.hasOwn(config, name) ? [config[name], `${file}: ${name}`] : [undefined, ''];
    if (value === undefined) continue;
    command.setOptionValueWithSource(key, parsed(option, value, origin, command.getOptionValue(key)), 'config');
  }
}

/** A setting as the option takes it: through its parser (numbers, rates, sizes), repeated for a list. */
function parsed(option: Option, value: unknown, origin: string, current: unknown): unknown {
  const refuse = (why: string): never => {
    throw new RtmlError('RTML_E_USAGE', `${origin}: ${why}`);
  };
  if (!option.required && !option.optional) {
    // A flag: true or false.
    if (typeof value === 'boolean') return option.negate ? !value : value;
    if (value === 'true' || value === 'false') return option.negate ? value === 'false' : value === 'true';
    return refuse(`--${longName(option)} is a flag: true or false, got ${JSON.stringify(value)}`);
  }
  const values = Array.isArray(value) ? value : [value];
  if (values.some((v) => typeof v === 'object' && v !== null)) refuse(`expected a value for --${longName(option)}, got ${JSON.stringify(value).slice(0, 60)}`);
  const parse = option.parseArg as ((text: string, previous: unknown) => unknown) | undefined;
  try {
    if (parse === undefined) return Array.isArray(value) ? values.map(String) : String(value);
    // Repeatable options (--source) start from their empty default and collect every value.
    let result = Array.isArray(current) ? [] : current;
    for (const v of values) result = parse(String(v), result);
    return result;
  } catch (err) {
    return refuse(errorMessage(err));
  }
}
