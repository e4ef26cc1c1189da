import { join } from 'node:path';
import { z } from 'zod';

/**
 * Every address, secret and tunable of DeepLens, read once from the environment by a
 * composition root (`main.ts`) and passed down. Defaults point at the local stack that
 * `npm run stack -- up` starts, so a fresh clone runs with no `.env` at all.
 */
const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),

  KAFKA_BROKERS: z
    .string()
    .min(1)
    .default('127.0.0.1:19092')
    .transform((s) => s.split(',').map((b) => b.trim())),
  KAFKA_CLIENT_ID: z.string().default('deeplens'),
  /** Prepended to every topic name: one Kafka cluster can hold several isolated DeepLens installations (and test runs). */
  KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/)
    .default(''),
  KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().min(1).default(6),
  /** Copies of each partition DeepLens's topics are created with and checked for at start-up (3 in production). */
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).default(1),
  /** Copies a write must reach (`acks=all`) before it counts; checked on every topic at start-up (2 in production). */
  KAFKA_MIN_INSYNC_REPLICAS: z.coerce.number().int().min(1).default(1),
  SCHEMA_REGISTRY_URL: z.string().url().default('http://127.0.0.1:18081/apis/ccompat/v7'),

  DATABASE_URL: z.string().url().default('postgres://deeplens:deeplens@127.0.0.1:15432/deeplens'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).default(10),
  /**
   * Servers for enterprise tenants' dedicated metadata databases, by name (JSON object name →
   * postgres URL); tenant events name a server, never a URL. `default` is DATABASE_URL's server.
   */
  TENANT_DATABASE_URLS: z
    .string()
    .default('{}')
    .transform((text, ctx) => {
      try {
        return z
          .record(z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/), z.string().url())
          .parse(JSON.parse(text));
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: 'TENANT_DATABASE_URLS must be a JSON object of name → postgres URL',
        });
        return z.NEVER;
      }
    }),

  /** Where DeepLens keeps image bytes: `fs` (a folder), `s3`, `azure` (Blob Storage) or `path` (a confined, fsync'd folder: local disk or NFS). */
  OBJECT_STORE: z.enum(['fs', 's3', 'azure', 'path']).default('fs'),
  OBJECT_STORE_DIR: z.string().default('.stack/data/objects'),
  S3_ENDPOINT: z.string().url().default('http://127.0.0.1:18333'),
  S3_REGION: z.string().default('us-east-1'),
  S3_ACCESS_KEY: z.string().default('deeplens'),
  S3_SECRET_KEY: z.string().default('deeplens-local-secret'),
  S3_BUCKET_PREFIX: z.string().default('deeplens-'),
  /** Azure Blob Storage (`OBJECT_STORE=azure`); the defaults are the local stack's Azurite and its well-known development account. */
  AZURE_STORAGE_ACCOUNT: z
    .string()
    .regex(/^[a-z0-9]{3,24}$/)
    .default('devstoreaccount1'),
  AZURE_STORAGE_KEY: z
    .string()
    .default('Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='),
  /** A SAS token for the account, used instead of the key when set. */
  AZURE_SAS_TOKEN: z.string().optional(),
  /** The Blob service URL; `https://<account>.blob.core.windows.net` when unset. */
  AZURE_BLOB_ENDPOINT: z.string().url().default('http://127.0.0.1:10000/devstoreaccount1'),

  VECTOR_STORE: z.enum(['embedded', 'qdrant']).default('embedded'),
  VECTOR_INDEX_DIR: z.string().default('.stack/data/vectors'),
  /** Qdrant's HTTP address; with `VECTOR_STORE=qdrant` and none set, the local stack's (`127.0.0.1:16333`). */
  QDRANT_URL: z.string().url().optional(),
  QDRANT_API_KEY: z.string().optional(),
  /** Copies of each shard of a new Qdrant collection: 2 on a cluster of three (a node may be down), 1 on one node. */
  QDRANT_REPLICATION_FACTOR: z.coerce.number().int().min(1).default(1),
  /** Shards of a new Qdrant collection: at least the cluster's node count, to spread it over them. */
  QDRANT_SHARDS: z.coerce.number().int().min(1).default(1),
  /** Other nodes of the Qdrant cluster (comma-separated URLs): requests move to the next when one fails. */
  QDRANT_FALLBACK_URLS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== ''),
    )
    .pipe(z.array(z.string().url())),

  WRITE_API_HOST: z.string().default('127.0.0.1'),
  WRITE_API_PORT: port(8080),
  READ_API_HOST: z.string().default('127.0.0.1'),
  READ_API_PORT: port(8090),

  /** Largest width × height an image may declare (decompression-bomb guard). */
  IMAGE_MAX_PIXELS: z.coerce.number().int().min(1).default(40_000_000),
  /** Largest request body the write API reads, bytes. */
  MAX_REQUEST_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(256 * 2 ** 20),
  /** PKCS#8 PEM (Ed25519 or P-256) signing access tokens; a local run generates one under STACK_DIR. */
  JWT_PRIVATE_KEY: z.string().optional(),
  /** The first platform admin, created at start-up when no user has that e-mail yet. */
  BOOTSTRAP_ADMIN_EMAIL: z.string().email().optional(),
  BOOTSTRAP_ADMIN_PASSWORD: z.string().min(12).optional(),
  /** Behind a reverse proxy: take the client address from X-Forwarded-For (else the socket's, which a client cannot forge). */
  TRUST_PROXY: bool(false),
  /** Sign-in attempts per (account, address) and per address before exponential backoff starts. */
  SIGN_IN_ATTEMPTS_PER_MINUTE: z.coerce.number().int().min(1).default(10),

  JWT_ISSUER: z.string().default('deeplens'),
  JWT_AUDIENCE: z.string().default('deeplens-api'),
  JWT_ACCESS_TTL_SECONDS: z.coerce.number().int().min(30).default(900),
  /** Where a local run keeps generated keys (signing key, secrets key) when none is configured. */
  SECRETS_DIR: z.string().default('.stack/secrets'),
  /** Base64 of 32 random bytes; encrypts tenant storage credentials at rest. */
  SECRETS_KEY: z.string().optional(),
  /**
   * Base64 of 32 random bytes; wraps every per-subject data key (crypto-shredding of personal
   * data). Required in production, and to be backed up: without it no personal data in the log
   * can be read. A local run generates one into `SECRETS_DIR/data-key-master.key`.
   */
  DATA_KEY_MASTER_KEY: z.string().optional(),

  /** A model manifest (JSON) to embed with instead of the default converted MobileNetV2. */
  EMBEDDER_MODEL_MANIFEST: z.string().optional(),
  EMBEDDER_BATCH_SIZE: z.coerce.number().int().min(1).max(256).default(16),
  /** How long the embedder waits to fill a batch before running a smaller one. */
  EMBEDDER_BATCH_WINDOW_MS: z.coerce.number().int().min(0).default(50),
  EMBEDDER_INTRA_OP_THREADS: z.coerce.number().int().min(1).optional(),
  /** Attempts at a transient failure (storage or PostgreSQL down) before Kafka redelivers the record (never dead-lettered). */
  EMBEDDER_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(5),
  THUMBNAIL_MAX_SIZE: z.coerce.number().int().min(16).max(1024).default(256),

  OTEL_ENABLED: bool(false),
  /** Where a process serves `/metrics` (its own port; the APIs answer it on theirs only with METRICS_TOKEN). */
  METRICS_HOST: z.string().default('127.0.0.1'),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** When set, the APIs also answer `/metrics` on their own port to `Authorization: Bearer <this>`. */
  METRICS_TOKEN: z.string().min(16).optional(),
  /** Longest time to receive a whole request (headers and body), seconds: a stalled body gets 408. */
  HTTP_REQUEST_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(30),
  /** The folder under which a tenant's `path` storage may lie (a local disk or NFS mount); none allowed when unset. */
  TENANT_STORAGE_PATH_ROOT: z.string().optional(),
  /** Storage endpoints a tenant may be given (comma-separated origins, e.g. https://s3.eu.example); none when empty. */
  TENANT_STORAGE_ALLOWED_ENDPOINTS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e !== ''),
    ),
  /** Images a storage move copies and records per batch (docs/storage-moves.md). */
  STORAGE_MOVE_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
  /** How long after a storage move starts its final verification waits for uploads that resolved the old storage, ms. */
  STORAGE_MOVE_SETTLE_MS: z.coerce.number().int().min(0).default(5000),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment; a bad value fails fast with a message naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(withStackDir(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  if (config.VECTOR_STORE === 'qdrant' && !config.QDRANT_URL) config.QDRANT_URL = defaultQdrantUrl;
  return config;
}

/**
 * `STACK_DIR` moves the whole local folder: the object store, vector index and secrets folders
 * default to places under it (`<STACK_DIR>/data/objects`, `…/data/vectors`, `…/secrets`).
 */
function withStackDir(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const stackDir = env.STACK_DIR;
  if (!stackDir) return env;
  return {
    ...env,
    OBJECT_STORE_DIR: env.OBJECT_STORE_DIR ?? join(stackDir, 'data', 'objects'),
    VECTOR_INDEX_DIR: env.VECTOR_INDEX_DIR ?? join(stackDir, 'data', 'vectors'),
    SECRETS_DIR: env.SECRETS_DIR ?? join(stackDir, 'secrets'),
  };
}

/** Where the local stack runs Qdrant (`npm run stack -- up`) unless `QDRANT_URL` says otherwise. */
export const defaultQdrantUrl = 'http://127.0.0.1:16333';
