import { parseArgs, type ParseArgsConfig } from 'node:util';
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

type Options = NonNullable<ParseArgsConfig['options']>;

const globalOptions = {
  'write-url': { type: 'string' },
  'read-url': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies Options;

/** Each command: its words, its positional arguments and its own options. */
const commandSpecs = {
  login: { args: [], options: { email: { type: 'string' }, 'api-key': { type: 'boolean' } } },
  logout: { args: [], options: {} },
  whoami: { args: [], options: {} },
  'tenant create': { args: ['slug'], options: { name: { type: 'string' }, plan: { type: 'string' } } },
  'user create': {
    args: ['email'],
    options: {
      tenant: { type: 'string' },
      role: { type: 'string' },
      'generate-password': { type: 'boolean' },
    },
  },
  'key create': {
    args: [],
    options: {
      tenant: { type: 'string' },
      scopes: { type: 'string', multiple: true },
      name: { type: 'string' },
      expires: { type: 'string' },
    },
  },
  import: {
    args: ['folder'],
    options: {
      tags: { type: 'string', multiple: true },
      attributes: { type: 'string', multiple: true },
      concurrency: { type: 'string' },
      wait: { type: 'boolean' },
      'wait-timeout': { type: 'string' },
    },
  },
  search: {
    args: ['file'],
    options: {
      k: { type: 'string' },
      threshold: { type: 'string' },
      tag: { type: 'string', multiple: true },
    },
  },
  similar: {
    args: ['imageId'],
    options: { k: { type: 'string' }, threshold: { type: 'string' }, tag: { type: 'string' } },
  },
  duplicates: { args: [], options: { threshold: { type: 'string' } } },
  status: { args: ['imageId'], options: {} },
  history: { args: ['imageId'], options: {} },
  usage: { args: [], options: { tenant: { type: 'string' } } },
  recover: { args: [], options: { force: { type: 'boolean' }, verify: { type: 'boolean' } } },
} satisfies Record<string, { args: string[]; options: Options }>;

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

/** Parses `argv` (without `node` and the script) into one command; throws `UsageError`. */
export function parseCliArguments(argv: string[]): CliInvocation {
  const words = positionalWords(argv);
  const name = (Object.keys(commandSpecs) as CommandName[])
    .sort((a, b) => b.length - a.length)
    .find((n) => n.split(' ').every((word, i) => words[i] === word));
  const help = argv.includes('--help') || argv.includes('-h');
  if (!name) {
    if (words.length === 0 || words[0] === 'help' || help)
      return { command: { name: 'help', topic: words[1] }, global: { json: false } };
    throw new UsageError(`unknown command: ${words.slice(0, 2).join(' ')}`);
  }

  const spec = commandSpecs[name];
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...globalOptions, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { values } = parsed;
  const global: GlobalOptions = {
    ...optional('writeUrl', url(values['write-url'], '--write-url')),
    ...optional('readUrl', url(values['read-url'], '--read-url')),
    json: values['json'] === true,
  };
  if (values['help'] === true) return { command: { name: 'help', topic: name }, global };

  const positionals = parsed.positionals.slice(name.split(' ').length);
  if (positionals.length !== spec.args.length) {
    const wanted = spec.args.map((a) => `<${a}>`).join(' ') || 'no arguments';
    throw new UsageError(
      `${name} takes ${wanted}${positionals.length > spec.args.length ? `, not ${positionals.join(' ')}` : ''}`,
    );
  }
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

/** The words that are not options or option values, to find the command by (any option, any command). */
function positionalWords(argv: string[]): string[] {
  const everyOption: Options = { ...globalOptions };
  for (const spec of Object.values(commandSpecs)) Object.assign(everyOption, spec.options);
  return parseArgs({ args: argv, options: everyOption, allowPositionals: true, strict: false }).positionals;
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
