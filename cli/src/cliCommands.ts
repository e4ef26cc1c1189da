import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { readAccessTokenClaims } from '@deeplens/client/accessTokenClaims';
import type { Image, SearchResult } from '@deeplens/client/clientTypes';
import type { FetchFunction } from '@deeplens/client/retryingFetch';
import { UsageError, type CliCommand, type GlobalOptions } from './cliArguments.ts';
import { connect, resolveEndpoints } from './cliConnection.ts';
import { PartialFailure } from './cliErrors.ts';
import { forgetCredentials, loadCredentials, saveCredentials } from './credentialsStore.ts';
import { formatBytes, formatHitsTable } from './formatTable.ts';
import { formatHistory } from './historyLines.ts';
import { findImportableFiles, importableTypes, importFiles, type ImportOutcome } from './importFolder.ts';
import { createProgressBar, formatDuration } from './progressBar.ts';

export type CliContext = {
  global: GlobalOptions;
  env: Record<string, string | undefined>;
  credentialsFile: string;
  /** Answers: standard output. */
  out: (line: string) => void;
  /** Progress and remarks: standard error. */
  stderr: NodeJS.WriteStream;
  readSecret: (prompt: string) => Promise<string>;
  fetch?: FetchFunction;
};

const cli = 'npm run deeplens --';

/** Runs one parsed command; throws what went wrong (see `cliErrors.ts` for exit codes). */
export async function runCommand(command: CliCommand, context: CliContext): Promise<void> {
  const { global, env, out } = context;
  const json = (value: unknown) => out(JSON.stringify(value, null, 2));
  const connectFor = (retry?: Parameters<typeof connect>[2]['retry']) =>
    connect(global, env, {
      credentialsFile: context.credentialsFile,
      requireCredentials: true,
      ...(retry ? { retry } : {}),
      ...(context.fetch ? { fetch: context.fetch } : {}),
    });

  switch (command.name) {
    case 'help':
      return;

    case 'login': {
      const stored = await loadCredentials(context.credentialsFile);
      const endpoints = resolveEndpoints(global, env, stored);
      // Whatever is stored (a session the server forgot, another server's) is replaced, never used.
      const { client } = await connect(global, env, {
        credentialsFile: context.credentialsFile,
        requireCredentials: false,
        anonymous: true,
        ...(context.fetch ? { fetch: context.fetch } : {}),
      });
      const savedAt = new Date().toISOString();
      if (command.apiKey) {
        const apiKey = (await context.readSecret('API key: ')).trim();
        if (!apiKey) throw new UsageError('no API key given');
        const claims = readAccessTokenClaims((await client.signIn({ apiKey })).accessToken);
        await saveCredentials(context.credentialsFile, { ...endpoints, apiKey, savedAt });
        if (global.json) return json({ ...endpoints, tenantId: claims?.tenantId, scopes: claims?.scopes });
        out(`Signed in with API key ${apiKey.slice(0, 11)}… (tenant ${claims?.tenantId ?? '?'})`);
      } else {
        const email = command.email!;
        const password = await context.readSecret(`Password for ${email}: `);
        if (!password) throw new UsageError('no password given');
        const tokens = await client.signIn({ email, password });
        const claims = readAccessTokenClaims(tokens.accessToken);
        await saveCredentials(context.credentialsFile, {
          ...endpoints,
          email,
          accessToken: tokens.accessToken,
          ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
          savedAt,
        });
        if (global.json) return json({ ...endpoints, email, role: claims?.role, tenantId: claims?.tenantId });
        out(
          `Signed in as ${email} (${claims?.role ?? 'unknown role'}${claims?.tenantId ? `, tenant ${claims.tenantId}` : ''}) at ${endpoints.writeUrl}`,
        );
      }
      out(`Credentials saved in ${context.credentialsFile} (readable by you only).`);
      return;
    }

    case 'logout': {
      const stored = await loadCredentials(context.credentialsFile);
      let serverNote = '';
      if (stored?.refreshToken) {
        // Ends the session on the server it came from, with nothing but its refresh token.
        const { client } = await connect({ ...global, writeUrl: stored.writeUrl }, env, {
          credentialsFile: context.credentialsFile,
          requireCredentials: false,
          anonymous: true,
          retry: { maxAttempts: 1 },
          ...(context.fetch ? { fetch: context.fetch } : {}),
        });
        // The server may be gone or the session already over: forgetting locally still counts.
        await client.signOut(stored.refreshToken).catch((error: unknown) => {
          serverNote = ` (the server did not end the session: ${error instanceof Error ? error.message : String(error)})`;
        });
      }
      const forgotten = await forgetCredentials(context.credentialsFile);
      out(forgotten ? `Signed out; stored credentials removed${serverNote}.` : 'No stored credentials.');
      return;
    }

    case 'recover': {
      // Talks to Kafka and PostgreSQL directly, with this process's configuration: no sign-in.
      const { runRecover } = await import('@deeplens/commands/recoverCommand');
      const code = await runRecover(
        { mode: command.mode, json: global.json },
        { out, stderr: context.stderr, env },
      );
      if (code !== 0) throw new PartialFailure('recover did not succeed');
      return;
    }

    case 'whoami': {
      const connection = await connectFor();
      // An API key says nothing about itself: exchange it for a token, whose claims do.
      const apiKey =
        connection.auth === 'DEEPLENS_API_KEY'
          ? env['DEEPLENS_API_KEY']
          : connection.auth === 'stored API key'
            ? connection.stored?.apiKey
            : undefined;
      if (apiKey) await connection.client.signIn({ apiKey });
      const token = connection.client.token;
      const claims = token ? readAccessTokenClaims(token) : undefined;
      const who = {
        auth: connection.auth,
        writeUrl: connection.endpoints.writeUrl,
        readUrl: connection.endpoints.readUrl,
        ...(connection.stored?.email && connection.auth === 'stored session'
          ? { email: connection.stored.email }
          : {}),
        ...(claims
          ? {
              role: claims.role,
              tenantId: claims.tenantId,
              scopes: claims.scopes,
              expiresAt: new Date(claims.expiresAt).toISOString(),
            }
          : {}),
      };
      if (global.json) return json(who);
      for (const [key, value] of Object.entries(who))
        out(`${key.padEnd(10)} ${Array.isArray(value) ? value.join(' ') : String(value)}`);
      return;
    }

    case 'tenant create': {
      const { client } = await connectFor();
      const tenant = await client.createTenant({
        slug: command.slug,
        name: command.tenantName,
        ...(command.plan ? { plan: command.plan } : {}),
      });
      if (global.json) return json(tenant);
      out(`Tenant ${tenant.slug} created: ${tenant.id}`);
      out(
        `  plan ${tenant.plan}: up to ${tenant.limits.maxImages} images, ${formatBytes(tenant.limits.maxBytes)}, ${tenant.limits.requestsPerMinute} requests/minute`,
      );
      out(`next: ${cli} user create <email> --tenant ${tenant.id} --role tenant_admin`);
      out(`  or: ${cli} key create --tenant ${tenant.id}`);
      return;
    }

    case 'user create': {
      const { client } = await connectFor();
      const password = command.generatePassword
        ? randomBytes(18).toString('base64url')
        : await context.readSecret(`Password for ${command.email} (12 or more characters): `);
      if (password.length < 12) throw new UsageError('the password needs 12 or more characters');
      const user = await client.createUser({
        email: command.email,
        password,
        role: command.role,
        tenantId: command.tenantId ?? null,
      });
      if (global.json) return json({ ...user, ...(command.generatePassword ? { password } : {}) });
      out(
        `User ${user.email} created: ${user.id} (${user.role}${user.tenantId ? `, tenant ${user.tenantId}` : ''})`,
      );
      if (command.generatePassword) out(`  password (shown once): ${password}`);
      out(`next: ${cli} login --email ${user.email}`);
      return;
    }

    case 'key create': {
      const { client } = await connectFor();
      const key = await client.createApiKey(command.tenantId, {
        scopes: command.scopes,
        ...(command.keyName ? { name: command.keyName } : {}),
        ...(command.expiresAt ? { expiresAt: command.expiresAt } : {}),
      });
      if (global.json) return json(key);
      out(
        `API key ${key.prefix} created: ${key.id} (scopes: ${key.scopes.join(', ')}${key.expiresAt ? `; expires ${key.expiresAt}` : ''})`,
      );
      out('The secret is shown this once; store it now:');
      out(`  ${key.secret}`);
      out(`use it: export DEEPLENS_API_KEY=<secret>   or: ${cli} login --api-key`);
      return;
    }

    case 'import':
      return importCommand(command, context, connectFor);

    case 'search': {
      const bytes = await readQueryImage(command.file);
      const { client } = await connectFor();
      const result = await client.searchByImage(bytes, {
        k: command.k,
        ...(command.threshold === undefined ? {} : { threshold: command.threshold }),
        ...(command.tags.length > 0 ? { filter: { tags: command.tags } } : {}),
        filename: basename(command.file),
        type: importableTypes[extname(command.file).toLowerCase()] ?? 'application/octet-stream',
      });
      if (global.json) return json(result);
      printHits(
        out,
        result,
        `images like ${command.file}`,
        command.threshold !== undefined || command.tags.length > 0,
      );
      return;
    }

    case 'similar': {
      const { client } = await connectFor();
      const result = await client.similar(command.imageId, {
        k: command.k,
        ...(command.threshold === undefined ? {} : { threshold: command.threshold }),
        ...(command.tag === undefined ? {} : { tag: command.tag }),
      });
      if (global.json) return json(result);
      printHits(
        out,
        result,
        `images like ${command.imageId}`,
        command.threshold !== undefined || command.tag !== undefined,
      );
      return;
    }

    case 'duplicates': {
      const { client } = await connectFor();
      const result = await client.duplicates(
        command.threshold === undefined ? {} : { threshold: command.threshold },
      );
      if (global.json) return json(result);
      if (result.groups.length === 0) return out('No near-duplicates found.');
      result.groups.forEach((group, i) => {
        out(`group ${i + 1} (${group.images.length} images)`);
        for (const image of group.images) out(`  ${image.imageId}  ${image.filename}`);
      });
      return;
    }

    case 'status': {
      const { client } = await connectFor();
      const image = await client.getImage(command.imageId);
      if (global.json) return json(image);
      for (const line of describeImage(image)) out(line);
      return;
    }

    case 'history': {
      const { client } = await connectFor();
      const events = await client.imageHistory(command.imageId);
      if (global.json) return json(events);
      for (const line of formatHistory(events)) out(line);
      return;
    }

    case 'usage': {
      const { client } = await connectFor();
      const usage = await client.usage(command.tenantId);
      if (global.json) return json(usage);
      const limits = usage.limits ?? {};
      const of = (limit: string | undefined) => (limit === undefined ? '' : ` of ${limit}`);
      out(`tenant  ${usage.tenantId}${usage.plan ? ` (plan ${usage.plan})` : ''}`);
      out(`images  ${usage.images}${of(limits.maxImages?.toString())}`);
      out(
        `bytes   ${formatBytes(usage.bytes)}${of(limits.maxBytes === undefined ? undefined : formatBytes(limits.maxBytes))}`,
      );
      return;
    }

    default: {
      const never: never = command;
      throw new UsageError(`unknown command ${JSON.stringify(never)}`);
    }
  }
}

async function importCommand(
  command: Extract<CliCommand, { name: 'import' }>,
  context: CliContext,
  connectFor: (retry?: {
    maxAttempts?: number;
    onRetry?: (e: { waitMs: number }) => void;
  }) => ReturnType<typeof connect>,
): Promise<void> {
  const { out, stderr, global } = context;
  const folderStat = await stat(command.folder).catch(() => undefined);
  if (!folderStat?.isDirectory()) throw new UsageError(`import needs a folder; ${command.folder} is not one`);
  const { files, skipped } = await findImportableFiles(command.folder);
  if (files.length === 0) {
    throw new UsageError(
      `no images in ${command.folder} (DeepLens reads ${Object.keys(importableTypes).join(' ')}; ${skipped.length} other files)`,
    );
  }

  const bar = createProgressBar(stderr, 'uploading');
  const started = Date.now();
  let note: string | undefined;
  let last = { done: 0, total: files.length, failed: 0, bytes: 0 };
  const { client } = await connectFor({
    // Rate limits are expected on a big import: wait them out rather than give up.
    maxAttempts: 20,
    onRetry: (event) => {
      note = `rate limited, retrying in ${formatDuration(event.waitMs)}`;
      bar.update({ ...last, elapsedMs: Date.now() - started, note });
    },
  });
  const outcomes = await importFiles(client, files, {
    tags: command.tags,
    attributes: command.attributes,
    concurrency: command.concurrency,
    onProgress: (progress) => {
      last = progress;
      note = undefined;
      bar.update({ ...progress, elapsedMs: Date.now() - started });
    },
  }).finally(() => bar.finish());

  const count = (status: ImportOutcome['status']) => outcomes.filter((o) => o.status === status).length;
  const failures = outcomes.filter(
    (o): o is Extract<ImportOutcome, { status: 'failed' }> => o.status === 'failed',
  );
  const summary = {
    folder: command.folder,
    files: files.length,
    new: count('new'),
    existing: count('existing'),
    failed: failures.length,
    skipped: skipped.length,
    bytes: outcomes.reduce((sum, o) => sum + o.bytes, 0),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };

  let indexing: { indexed: number; failed: { id: string; filename: string; reason: string }[] } | undefined;
  if (command.wait) {
    const ids = outcomes.flatMap((o) => (o.status === 'failed' ? [] : [o.imageId]));
    const waitBar = createProgressBar(stderr, 'indexing');
    const waitStarted = Date.now();
    let settled = 0;
    let failedEmbeddings = 0;
    const images = await client
      .waitUntilIndexed(ids, command.waitTimeoutSeconds * 1000, {
        onSettled: (image) => {
          settled++;
          if (image.status === 'failed') failedEmbeddings++;
          waitBar.update({
            done: settled,
            total: ids.length,
            failed: failedEmbeddings,
            elapsedMs: Date.now() - waitStarted,
          });
        },
      })
      .finally(() => waitBar.finish());
    indexing = {
      indexed: images.filter((i) => i.status === 'indexed').length,
      failed: images
        .filter((i) => i.status === 'failed')
        .map((i) => ({ id: i.id, filename: i.filename, reason: i.failure?.reason ?? 'unknown' })),
    };
  }

  if (global.json) {
    out(JSON.stringify({ summary, ...(indexing ? { indexing } : {}), outcomes, skipped }, null, 2));
  } else {
    out(
      `Imported ${command.folder}: ${summary.new} new, ${summary.existing} already there, ${summary.failed} failed` +
        ` (${summary.files} images, ${formatBytes(summary.bytes)}, ${formatDuration(Date.now() - started)})`,
    );
    if (skipped.length > 0) out(`  ${skipped.length} files skipped: not an image type DeepLens reads`);
    for (const failure of failures.slice(0, 20)) out(`  failed  ${failure.file}: ${failure.reason}`);
    if (failures.length > 20) out(`  … and ${failures.length - 20} more failures (--json lists them all)`);
    if (indexing) {
      out(`Indexed ${indexing.indexed} of ${indexing.indexed + indexing.failed.length}`);
      for (const failure of indexing.failed.slice(0, 20))
        out(`  not indexed  ${failure.filename} (${failure.id}): ${failure.reason}`);
    } else if (summary.new > 0) {
      out(
        `Embedding and indexing follow in the background: \`${cli} status <imageId>\`, or import again with --wait.`,
      );
    }
  }
  if (failures.length > 0 || (indexing && indexing.failed.length > 0))
    throw new PartialFailure('some images were not imported');
}

async function readQueryImage(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

function printHits(out: (line: string) => void, result: SearchResult, what: string, filtered: boolean): void {
  const model = `${result.model.modelId}@${result.model.modelVersion}`;
  if (result.hits.length === 0) {
    out(
      filtered
        ? `No ${what} with that threshold or those tags (model ${model}).`
        : `No ${what} (model ${model}). Nothing indexed yet? Check with \`${cli} status <imageId>\`.`,
    );
    return;
  }
  out(`${result.hits.length} ${what} (model ${model})`);
  out(formatHitsTable(result.hits));
}

/** `status` as lines of `name  value`. */
export function describeImage(image: Image): string[] {
  const rows: [string, string][] = [
    ['id', image.id],
    ['status', image.status + (image.failure ? ` — ${image.failure.reason}` : '')],
    ['filename', image.filename],
    ['type', `${image.mime}, ${image.width}×${image.height}, ${formatBytes(image.bytes)}`],
    ['sha256', image.sha256],
    ['tags', image.tags.join(', ') || '-'],
    [
      'attributes',
      Object.entries(image.attributes)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '-',
    ],
    ['thumbnail', image.thumbnailUrl ?? '-'],
    ['uploaded', image.uploadedAt],
    ['updated', image.updatedAt],
  ];
  return rows.map(([name, value]) => `${name.padEnd(11)}${value}`);
}
