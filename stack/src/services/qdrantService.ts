import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { runningPid, startDetached, stopByPidFile } from '../processes.ts';
import { StackError, versions, type StackContext } from '../stackContext.ts';
import type { StackService } from '../stackService.ts';

/** The shared build of Qdrant beside the checkout (`../shared/vendor/qdrant`), read-only. */
export const sharedQdrantDir = resolve(
  import.meta.dirname,
  '..',
  '..',
  '..',
  '..',
  'shared',
  'vendor',
  'qdrant',
);

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The expected sums from a `SHA256SUMS` file: archive name → hex, and `qdrant (unpacked)` → hex. */
function readSums(file: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim());
    if (match) sums.set(match[2]!.trim(), match[1]!);
  }
  return sums;
}

/**
 * Qdrant, the vector store for `VECTOR_STORE=qdrant`: a native binary from `QDRANT_BIN`, else
 * the shared build (`../shared/vendor/qdrant`, both sha256 sums checked) unpacked into the
 * cache. Loopback only, storage under the stack's data folder, no telemetry. Optional: without
 * a binary the rest of the stack still comes up (the embedded index needs no server).
 */
export function qdrantService(context: StackContext): StackService {
  const cachedBinary = join(context.cacheDir, `qdrant-${versions.qdrant}`, 'qdrant');
  const dataDir = join(context.dataDir, 'qdrant');
  const pidFile = join(context.runDir, 'qdrant.pid');
  const logFile = join(context.logDir, 'qdrant.log');
  const { host } = context;
  const { qdrant: port, qdrantGrpc: grpcPort } = context.ports;
  const marker = 'qdrant';
  const archive = join(sharedQdrantDir, `qdrant-${versions.qdrant}-x86_64-linux-gnu.xz`);

  function binary(): string {
    return process.env.QDRANT_BIN ? resolve(process.env.QDRANT_BIN) : cachedBinary;
  }

  return {
    name: 'qdrant',
    version: `Qdrant ${versions.qdrant}`,
    address: `http://${host}:${port}`,
    logFile,
    startTimeoutSeconds: 30,
    optional: true,
    async install() {
      if (process.env.QDRANT_BIN) {
        if (!existsSync(binary()))
          throw new StackError(`QDRANT_BIN names ${process.env.QDRANT_BIN}, which does not exist`);
        return;
      }
      if (existsSync(cachedBinary)) return;
      const sumsFile = join(sharedQdrantDir, 'SHA256SUMS');
      if (!existsSync(archive) || !existsSync(sumsFile)) {
        throw new StackError(
          `no Qdrant ${versions.qdrant} binary: set QDRANT_BIN to a qdrant executable (the release ` +
            `archive from https://github.com/qdrant/qdrant/releases/tag/v${versions.qdrant}), put the ` +
            `shared build in ${sharedQdrantDir}, or run the compose service (\`docker compose up qdrant\`) ` +
            'and point QDRANT_URL at it',
        );
      }
      const sums = readSums(sumsFile);
      const archiveSum = await sha256(archive);
      if (archiveSum !== sums.get(`qdrant-${versions.qdrant}-x86_64-linux-gnu.xz`))
        throw new StackError(`${archive}: sha256 ${archiveSum} does not match ${sumsFile}`);
      mkdirSync(join(cachedBinary, '..'), { recursive: true });
      const partial = `${cachedBinary}.partial`;
      execFileSync('sh', ['-c', 'xz -dc "$1" > "$2"', 'unxz', archive, partial]);
      const binarySum = await sha256(partial);
      if (binarySum !== sums.get('qdrant (unpacked)')) {
        rmSync(partial, { force: true });
        throw new StackError(`the unpacked Qdrant binary's sha256 ${binarySum} does not match ${sumsFile}`);
      }
      chmodSync(partial, 0o755);
      renameSync(partial, cachedBinary);
    },
    async start() {
      mkdirSync(join(dataDir, 'storage'), { recursive: true });
      mkdirSync(join(dataDir, 'snapshots'), { recursive: true });
      startDetached({
        command: binary(),
        args: ['--disable-telemetry'],
        // Its working folder holds nothing of ours: a missing ./config and ./static are harmless.
        cwd: dataDir,
        env: {
          QDRANT__SERVICE__HOST: host,
          QDRANT__SERVICE__HTTP_PORT: String(port),
          QDRANT__SERVICE__GRPC_PORT: String(grpcPort),
          QDRANT__STORAGE__STORAGE_PATH: join(dataDir, 'storage'),
          QDRANT__STORAGE__SNAPSHOTS_PATH: join(dataDir, 'snapshots'),
          QDRANT__TELEMETRY_DISABLED: 'true',
          ...(context.config.QDRANT_API_KEY
            ? { QDRANT__SERVICE__API_KEY: context.config.QDRANT_API_KEY }
            : {}),
        },
        logFile,
        pidFile,
      });
    },
    pid: () => runningPid(pidFile, marker),
    async isHealthy() {
      // A real request: the collection list answers only once the storage is loaded.
      const response = await fetch(`http://${host}:${port}/collections`, {
        headers: context.config.QDRANT_API_KEY ? { 'api-key': context.config.QDRANT_API_KEY } : {},
        signal: AbortSignal.timeout(2000),
      });
      return response.ok;
    },
    stop: () => stopByPidFile(pidFile, marker),
  };
}
