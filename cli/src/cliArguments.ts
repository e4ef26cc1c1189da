import { Command, CommanderError } from 'commander';
import { apiKeyScopes, type ApiKeyScope, type Plan, type Role } from '@deeplens/client/clientTypes';

/** A command line that cannot be run as given; the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Options every command takes. */
export type GlobalOptions = { writeUrl?: string; readUrl?: string; json: boolean };

export type CliCommand =
  | { name: 'help'; topic?: string }
  | { name: 'login'; email?: string; apiKey: boolean }
  | { name: 'logout' }
  | { name: 'whoami' }
  | { name: 'tenant create'; slug: string; tenantName: string; plan?: Plan }
  | { name: 'user create'; email: string; tenantId?: string; role: Role; generatePassword: boolean }
  | { name: 'key create'; tenantId: string; scopes: ApiKeyScope[]; keyName?: string; expiresAt?: string }
  | {
      name: 'import';
      folder: string;
      tags: string[];
      attributes: Record<string, string>;
      concurrency: number;
      wait: boolean;
      waitTimeoutSeconds: number;
    }
  | { name: 'search'; file: string; k: number; threshold?: number; tags: string[] }
  | { name: 'similar'; imageId: string; k: number; threshold?: number; tag?: string }
  | { name: 'duplicates'; threshold?: number }
  | { name: 'status'; imageId: string }
  | { name: 'history'; imageId: string }
  | { name: 'usage'; tenantId?: string }
  | { name: 'recover'; mode: 'recover' | 'force' | 'verify' };

export type CliInvocation = { command: CliCommand; global: GlobalOptions };

/** How an option is given: a value, a flag, or a value that may be repeated. */
type OptionKind = 'value' | 'flag' | 'values';

/** Each command: its words, its positional arguments and its own options (long names). */
const commandSpecs = {
  login: { args: [], options: { email: 'value', 'api-key': 'flag' } },
  logout: { args: [], options: {} },
  whoami: { args: [], options: {} },
  'tenant create': { args: ['slug'], options: { name: 'value', plan: 'value' } },
  'user create': {
    args: ['email'],
    options: { tenant: 'value', role: 'value', 'generate-password': 'flag' },
  },
  'key create': { args: [], options: { tenant: 'value', scopes: 'values', name: 'value', expires: 'value' } },
  import: {
    args: ['folder'],
    options: {
      tags: 'values',
      attributes: 'values',
      concurrency: 'value',
      wait: 'flag',
      'wait-timeout': 'value',
    },
  },
  search: { args: ['file'], options: { k: 'value', threshold: 'value', tag: 'values' } },
  similar: { args: ['imageId'], options: { k: 'value', threshold: 'value', tag: 'value' } },
  duplicates: { args: [], options: { threshold: 'value' } },
  status: { args: ['imageId'], options: {} },
  history: { args: ['imageId'], options: {} },
  usage: { args: [], options: { tenant: 'value' } },
  recover: { args: [], options: { force: 'flag', verify: 'flag' } },
} satisfies Record<string, { args: string[]; options: Record<string, OptionKind> }>;

type CommandName = keyof typeof commandSpecs;

export const cliUsage = `usage: npm run deeplens -- <command> [options]

  login --email <e>                sign in (password from stdin, or asked for); tokens kept in
                                   ~/.config/deeplens/credentials.json (0600)
  login --api-key                  store an API key instead (read from stdin, or asked for)
  logout                           end the session and forget the stored credentials
  whoami                           who the stored credentials are
  tenant create <slug> --name <n> [--plan free|pro|enterprise]
  user create <email> --tenant <id> --role <tenant_admin|tenant_user|platform_admin>
                                   [--generate-password]   (else the password from stdin, or asked for)
  key create --tenant <id> [--scopes images:read,images:write,search] [--name <n>] [--expires <iso date>]
  import <folder> [--tags a,b] [--attributes k=v,…] [--concurrency 4] [--wait] [--wait-timeout 600]
  search <image file> [--k 10] [--threshold 0.8] [--tag t]…
  similar <imageId> [--k 10] [--threshold 0.8] [--tag t]
  duplicates [--threshold 0.95]
  status <imageId>
  history <imageId>                every event of the image in log order: who, when, what changed
  usage [--tenant <id>]
  recover [--force | --verify]     operators: rebuild the write model from the Kafka log (no sign-in;
                                   reads DATABASE_URL, KAFKA_BROKERS…); see docs/recovery.md

options of every command:
  --write-url <url>   the write API (else DEEPLENS_WRITE_URL, the login's, or http://WRITE_API_HOST:WRITE_API_PORT)
  --read-url <url>    the read API  (else DEEPLENS_READ_URL, the login's, or http://READ_API_HOST:READ_API_PORT)
  --json              print the answer as JSON
  -h, --help          this text

credentials: DEEPLENS_TOKEN (an access token) or DEEPLENS_API_KEY win over the stored ones.
exit codes: 0 done, 1 refused or failed, 2 bad command line, 3 server unreachable, 4 not signed in.`;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const plans: readonly Plan[] = ['free', 'pro', 'enterprise'];
const roles: readonly Role[] = ['platform_admin', 'tenant_admin', 'tenant_user'];

/** A command line parsed by commander: the command's name, its positional arguments and option values. */
type ParsedLine = { name: CommandName; positionals: string[]; values: Record<string, unknown> };

/** Thrown from commander's exit hook when `--help`, `-h` or `help [command]` asks for the usage. */
class HelpRequested extends Error {
  constructor(readonly topic: string | undefined) {
    super('help');
  }
}

/** The command tree, on commander: global options anywhere on the line, each command's own after its words. */
function commandLineParser(onParsed: (line: ParsedLine) => void): Command {
  // Commander prints nothing: `main.ts` prints `cliUsage` or the UsageError, and sets the exit code.
  const silent = { writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined };
  const program = new Command('deeplens')
    .configureOutput(silent)
    .exitOverride((error) => {
      throw asUsageError(error, program, undefined);
    })
    .option('--write-url <url>')
    .option('--read-url <url>')
    .option('--json');
  const groups = new Map<string, Command>();
  for (const [name, spec] of Object.entries(commandSpecs) as Array<
    [CommandName, (typeof commandSpecs)[CommandName]]
  >) {
    const words = name.split(' ');
    let parent = program;
    for (const word of words.slice(0, -1)) {
      let group = groups.get(word);
      if (!group) {
        group = parent.command(word);
        const named = group;
        group.exitOverride((error) => {
          throw asUsageError(error, named, word);
        });
        groups.set(word, group);
      }
      parent = group;
    }
    const command = parent.command(words.at(-1)!).exitOverride((error) => {
      throw asUsageError(error, command, name);
    });
    for (const arg of spec.args) command.argument(`<${arg}>`);
    for (const [option, kind] of Object.entries(spec.options) as Array<[string, OptionKind]>) {
      if (kind === 'flag') command.option(`--${option}`);
      else if (kind === 'value') command.option(`--${option} <value>`);
      else
        command.option(`--${option} <value>`, '', (value: string, list: string[] = []) => [...list, value]);
    }
    command.action(() => {
      const values: Record<string, unknown> = {};
      for (const option of Object.keys(spec.options))
        values[option] = command.getOptionValue(
          option.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
        );
      onParsed({ name, positionals: command.processedArgs as string[], values });
    });
  }
  return program;
}

/** Commander's refusals in our words, naming the command; its help requests as `HelpRequested`. */
function asUsageError(error: CommanderError, command: Command, name: string | undefined): Error {
  const detail = error.message.replace(/^error: /, '');
  switch (error.code) {
    case 'commander.helpDisplayed':
      return new HelpRequested(name);
    case 'commander.help':
      // `help [command]` asks for the usage (exit code 0); so does no command at all, while a
      // group without its second word (`tenant`) is an unknown command.
      return error.exitCode === 0 || name === undefined
        ? new HelpRequested(name)
        : new UsageError(`unknown command: ${name}`);
    case 'commander.unknownCommand':
      return new UsageError(`unknown command: ${[name, command.args[0]].filter(Boolean).join(' ')}`);
    case 'commander.missingArgument':
    case 'commander.excessArguments': {
      const spec = commandSpecs[name as CommandName];
      const wanted = spec.args.map((a) => `<${a}>`).join(' ') || 'no arguments';
      const given = command.args;
      return new UsageError(
        `${name} takes ${wanted}${given.length > spec.args.length ? `, not ${given.join(' ')}` : ''}`,
      );
    }
    default:
      return new UsageError(name === undefined ? detail : `${name}: ${detail}`);
  }
}

/** Parses `argv` (without `node` and the script) into one command; throws `UsageError`. */
export function parseCliArguments(argv: string[]): CliInvocation {
  let parsed: ParsedLine | undefined;
  const program = commandLineParser((line) => (parsed = line));
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof HelpRequested)
      return { command: { name: 'help', topic: error.topic }, global: { json: false } };
    throw error;
  }
  if (!parsed) return { command: { name: 'help' }, global: { json: false } };
  const globals = program.opts<{ writeUrl?: string; readUrl?: string; json?: boolean }>();
  const global: GlobalOptions = {
    ...optional('writeUrl', url(globals.writeUrl, '--write-url')),
    ...optional('readUrl', url(globals.readUrl, '--read-url')),
    json: globals.json === true,
  };
  const { name, positionals, values } = parsed;
  const [first = ''] = positionals;
  const text = (option: string) => values[option] as string | undefined;
  const list = (option: string) =>
    ((values[option] as string[] | undefined) ?? [])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);

  switch (name) {
    case 'login':
      if (values['api-key'] === true && text('email') !== undefined)
        throw new UsageError('login takes --email or --api-key, not both');
      if (values['api-key'] !== true && text('email') === undefined)
        throw new UsageError('login needs --email <e> (or --api-key)');
      return {
        command: { name, ...optional('email', text('email')), apiKey: values['api-key'] === true },
        global,
      };
    case 'logout':
    case 'whoami':
      return { command: { name }, global };
    case 'tenant create': {
      const tenantName = text('name');
      if (!tenantName) throw new UsageError('tenant create needs --name <name>');
      return {
        command: { name, slug: first, tenantName, ...optional('plan', oneOf(text('plan'), plans, '--plan')) },
        global,
      };
    }
    case 'user create': {
      const role = oneOf(text('role'), roles, '--role');
      if (!role) throw new UsageError(`user create needs --role ${roles.join('|')}`);
      const tenantId = uuid(text('tenant'), '--tenant');
      if (role !== 'platform_admin' && !tenantId)
        throw new UsageError(`a ${role} needs --tenant <tenant id>`);
      if (role === 'platform_admin' && tenantId)
        throw new UsageError('a platform admin belongs to no tenant');
      return {
        command: {
          name,
          email: first,
          ...optional('tenantId', tenantId),
          role,
          generatePassword: values['generate-password'] === true,
        },
        global,
      };
    }
    case 'key create': {
      const tenantId = uuid(text('tenant'), '--tenant');
      if (!tenantId) throw new UsageError('key create needs --tenant <tenant id>');
      const scopes = list('scopes');
      const unknown = scopes.filter((s) => !apiKeyScopes.includes(s as ApiKeyScope));
      if (unknown.length > 0)
        throw new UsageError(`unknown scopes: ${unknown.join(', ')} (known: ${apiKeyScopes.join(', ')})`);
      const expires = text('expires');
      if (expires !== undefined && !Number.isFinite(Date.parse(expires)))
        throw new UsageError(`--expires must be a date, e.g. 2030-01-31T00:00:00Z, not ${expires}`);
      return {
        command: {
          name,
          tenantId,
          scopes: scopes.length > 0 ? [...new Set(scopes as ApiKeyScope[])] : [...apiKeyScopes],
          ...optional('keyName', text('name')),
          ...optional('expiresAt', expires === undefined ? undefined : new Date(expires).toISOString()),
        },
        global,
      };
    }
    case 'import':
      return {
        command: {
          name,
          folder: first,
          tags: [...new Set(list('tags'))].sort(),
          attributes: keyValues(list('attributes')),
          concurrency: integer(text('concurrency'), '--concurrency', 1, 32) ?? 4,
          wait: values['wait'] === true,
          waitTimeoutSeconds: integer(text('wait-timeout'), '--wait-timeout', 1, 86_400) ?? 600,
        },
        global,
      };
    case 'search':
      return {
        command: {
          name,
          file: first,
          k: integer(text('k'), '--k', 1, 100) ?? 10,
          ...optional('threshold', threshold(text('threshold'))),
          tags: list('tag'),
        },
        global,
      };
    case 'similar':
      return {
        command: {
          name,
          imageId: requiredUuid(first, '<imageId>'),
          k: integer(text('k'), '--k', 1, 100) ?? 10,
          ...optional('threshold', threshold(text('threshold'))),
          ...optional('tag', text('tag')),
        },
        global,
      };
    case 'duplicates':
      return { command: { name, ...optional('threshold', threshold(text('threshold'))) }, global };
    case 'status':
    case 'history':
      return { command: { name, imageId: requiredUuid(first, '<imageId>') }, global };
    case 'usage':
      return { command: { name, ...optional('tenantId', uuid(text('tenant'), '--tenant')) }, global };
    case 'recover':
      if (values['force'] === true && values['verify'] === true)
        throw new UsageError('recover takes --force or --verify, not both');
      return {
        command: {
          name,
          mode: values['force'] === true ? 'force' : values['verify'] === true ? 'verify' : 'recover',
        },
        global,
      };
    default: {
      const never: never = name;
      throw new UsageError(`unknown command ${String(never)}`);
    }
  }
}

/** `{ [key]: value }`, or `{}` when the value is undefined (the types keep members optional, not `| undefined`). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function integer(raw: string | undefined, option: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`${option} must be a whole number from ${min} to ${max}, not ${raw}`);
  return value;
}

function threshold(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < -1 || value > 1)
    throw new UsageError(`--threshold is a cosine similarity from -1 to 1, not ${raw}`);
  return value;
}

function oneOf<T extends string>(
  raw: string | undefined,
  allowed: readonly T[],
  option: string,
): T | undefined {
  if (raw === undefined) return undefined;
  if (!allowed.includes(raw as T))
    throw new UsageError(`${option} must be one of ${allowed.join(', ')}, not ${raw}`);
  return raw as T;
}

function uuid(raw: string | undefined, what: string): string | undefined {
  if (raw === undefined) return undefined;
  if (!uuidPattern.test(raw)) throw new UsageError(`${what} must be an id like 0b8f…-…, not ${raw}`);
  return raw.toLowerCase();
}

function requiredUuid(raw: string, what: string): string {
  return uuid(raw, what)!;
}

function url(raw: unknown, option: string): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const text = raw;
  if (!/^https?:\/\/[^/]+/.test(text)) throw new UsageError(`${option} must be an http(s) URL, not ${text}`);
  return text.replace(/\/+$/, '');
}

function keyValues(pairs: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--attributes takes key=value pairs, not ${pair}`);
    result[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return result;
}
