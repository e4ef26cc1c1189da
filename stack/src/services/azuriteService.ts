import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { runningPid, startDetached, stopByPidFile } from '../processes.ts';
import { StackError, type StackContext } from '../stackContext.ts';
import type { StackService } from '../stackService.ts';

const require = createRequire(import.meta.url);

/** Azurite's blob server script, from the `azurite` npm package (installed with the workspace). */
function azuriteBlobMain(): string {
  try {
    return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  } catch (error) {
    throw new StackError('the azurite package is missing: run `npm ci`', { cause: error });
  }
}

/** Azurite's version, for `status`. */
function azuriteVersion(): string {
  try {
    return (require('azurite/package.json') as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/**
 * Azure Blob Storage, emulated: Azurite's blob service (`azurite` from npm) on loopback, its
 * data under the stack folder, the account and key DeepLens is configured with
 * (`AZURE_STORAGE_ACCOUNT`, `AZURE_STORAGE_KEY`), telemetry off. The address is
 * `AZURE_BLOB_ENDPOINT`'s (port 10000 by default).
 */
export function azuriteService(context: StackContext): StackService {
  const { config, host } = context;
  const endpoint = new URL(config.AZURE_BLOB_ENDPOINT);
  const port = endpoint.port ? Number(endpoint.port) : 10000;
  const dataDir = join(context.dataDir, 'azurite');
  const pidFile = join(context.runDir, 'azurite.pid');
  const logFile = join(context.logDir, 'azurite.log');
  const marker = 'azurite';
  const address = `http://${host}:${port}/${config.AZURE_STORAGE_ACCOUNT}`;

  return {
    name: 'azurite',
    version: `Azurite ${azuriteVersion()} (blob)`,
    address,
    logFile,
    startTimeoutSeconds: 60,
    async install() {
      if (!existsSync(azuriteBlobMain())) throw new StackError('the azurite package is incomplete');
    },
    async start() {
      mkdirSync(dataDir, { recursive: true });
      startDetached({
        command: process.execPath,
        args: [
          azuriteBlobMain(),
          '--blobHost',
          host,
          '--blobPort',
          String(port),
          '--location',
          dataDir,
          '--disableTelemetry',
          '--skipApiVersionCheck',
          '--loose',
          '--silent',
        ],
        env: { AZURITE_ACCOUNTS: `${config.AZURE_STORAGE_ACCOUNT}:${config.AZURE_STORAGE_KEY}` },
        logFile,
        pidFile,
      });
    },
    pid: () => runningPid(pidFile, marker),
    async isHealthy() {
      const client = new BlobServiceClient(
        address,
        new StorageSharedKeyCredential(config.AZURE_STORAGE_ACCOUNT, config.AZURE_STORAGE_KEY),
        { retryOptions: { maxTries: 1, tryTimeoutInMs: 5000 } },
      );
      await client.getProperties();
      return true;
    },
    stop: () => stopByPidFile(pidFile, marker),
  };
}
