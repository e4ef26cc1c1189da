import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { runningPid, startDetached, stopByPidFile, waitUntil } from '../processes.ts';
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
 * How many Qdrant nodes the stack runs: `up --qdrant-nodes N` records it under `conf/`, later
 * commands read it back (a cluster's storage folders are not a single node's).
 */
export function qdrantNodeCount(context: StackContext, requested?: number): number {
  const file = join(context.dir, 'conf', 'qdrant-nodes');
  if (requested !== undefined) {
    mkdirSync(join(context.dir, 'conf'), { recursive: true });
    writeFileSync(file, `${requested}\n`);
    return requested;
  }
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || 1 : 1;
}

/** Node `node`'s (1-based) HTTP, gRPC and peer-to-peer ports: three consecutive from the first node's. */
export function qdrantNodePorts(
  context: StackContext,
  node: number,
): { http: number; grpc: number; p2p: number } {
  const step = (node - 1) * 3;
  const http = context.ports.qdrant + step;
  return { http, grpc: context.ports.qdrantGrpc + step, p2p: http + 2 };
}

/**
 * Qdrant, the vector store for `VECTOR_STORE=qdrant`: a native binary from `QDRANT_BIN`, else
 * the shared build (`../shared/vendor/qdrant`, both sha256 sums checked) unpacked into the
 * cache. Loopback only, storage under the stack's data folder, no telemetry. Optional: without
 * a binary the rest of the stack still comes up (the embedded index needs no server).
 *
 * With `nodes` above 1, Qdrant's distributed mode: every node has cluster mode on and its own
 * storage (`data/qdrant-<n>`); node 1 starts the consensus and the others join it
 * (`--bootstrap`, on their first start only); peers talk over loopback p2p ports. Healthy when
 * every node answers and node 1 sees all of them in its consensus with a leader.
 */
export function qdrantService(context: StackContext, nodes = 1): StackService {
  const members = qdrantNodes(context, nodes);
  const first = members[0]!;
  if (nodes === 1) return first;
  const { host } = context;
  return {
    ...first,
    name: 'qdrant',
    version: `${first.version}, ${nodes} nodes`,
    address: members.map((m) => m.address).join(','),
    install: () => first.install(),
    async start() {
      // The others join node 1, so it answers first.
      if (first.pid() === undefined) await first.start();
      await waitUntil(() => first.isHealthy(), first.startTimeoutSeconds * 1000);
      for (const member of members.slice(1)) if (member.pid() === undefined) await member.start();
    },
    pid: () => (members.every((m) => m.pid() !== undefined) ? first.pid() : undefined),
    async isHealthy() {
      if (!(await Promise.all(members.map((m) => m.isHealthy()))).every(Boolean)) return false;
      const response = await fetch(`http://${host}:${qdrantNodePorts(context, 1).http}/cluster`, {
        headers: apiKeyHeader(context),
        signal: AbortSignal.timeout(2000),
      });
      if (!response.ok) return false;
      const { result } = (await response.json()) as {
        result: { status: string; peers: Record<string, unknown>; raft_info: { leader?: number | null } };
      };
      return (
        result.status === 'enabled' &&
        Object.keys(result.peers).length === nodes &&
        result.raft_info.leader !== null &&
        result.raft_info.leader !== undefined
      );
    },
    async stop() {
      const stopped = await Promise.all(members.map((m) => m.stop()));
      return stopped.some(Boolean);
    },
  };
}

function apiKeyHeader(context: StackContext): Record<string, string> {
  return context.config.QDRANT_API_KEY ? { 'api-key': context.config.QDRANT_API_KEY } : {};
}

/** The stack's Qdrant node services: one plain node, or the `nodes` members of a cluster (each startable and stoppable alone). */
export function qdrantNodes(context: StackContext, nodes = 1): StackService[] {
  return Array.from({ length: nodes }, (_, i) => qdrantNode(context, i + 1, nodes));
}

function qdrantNode(context: StackContext, node: number, nodes: number): StackService {
  const clustered = nodes > 1;
  const suffix = clustered ? `-${node}` : '';
  const cachedBinary = join(context.cacheDir, `qdrant-${versions.qdrant}`, 'qdrant');
  const dataDir = join(context.dataDir, `qdrant${suffix}`);
  const pidFile = join(context.runDir, `qdrant${suffix}.pid`);
  const logFile = join(context.logDir, `qdrant${suffix}.log`);
  const { host } = context;
  const { http: port, grpc: grpcPort, p2p } = qdrantNodePorts(context, node);
  const uri = `http://${host}:${p2p}`;
  const bootstrap = `http://${host}:${qdrantNodePorts(context, 1).p2p}`;
  // A cluster node's command line names its own peer address; a single node's just the binary.
  const marker = clustered ? uri : 'qdrant';
  const archive = join(sharedQdrantDir, `qdrant-${versions.qdrant}-x86_64-linux-gnu.xz`);

  function binary(): string {
    return process.env.QDRANT_BIN ? resolve(process.env.QDRANT_BIN) : cachedBinary;
  }

  return {
    name: clustered ? `qdrant-${node}` : 'qdrant',
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
      // A node joins the cluster once; later starts find the consensus state in its storage.
      const joined = existsSync(join(dataDir, 'storage', 'raft_state.json'));
      startDetached({
        command: binary(),
        args: [
          '--disable-telemetry',
          ...(clustered ? ['--uri', uri] : []),
          ...(clustered && node > 1 && !joined ? ['--bootstrap', bootstrap] : []),
        ],
        // Its working folder holds nothing of ours: a missing ./config and ./static are harmless.
        cwd: dataDir,
        env: {
          QDRANT__SERVICE__HOST: host,
          QDRANT__SERVICE__HTTP_PORT: String(port),
          QDRANT__SERVICE__GRPC_PORT: String(grpcPort),
          QDRANT__STORAGE__STORAGE_PATH: join(dataDir, 'storage'),
          QDRANT__STORAGE__SNAPSHOTS_PATH: join(dataDir, 'snapshots'),
          QDRANT__TELEMETRY_DISABLED: 'true',
          ...(clustered ? { QDRANT__CLUSTER__ENABLED: 'true', QDRANT__CLUSTER__P2P__PORT: String(p2p) } : {}),
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
        headers: apiKeyHeader(context),
        signal: AbortSignal.timeout(2000),
      });
      return response.ok;
    },
    stop: () => stopByPidFile(pidFile, marker),
  };
}
