/** Composition root of the web interface's server: the built app and its API gateway. */
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { createWebGateway, loadStaticFiles } from './webGateway.ts';
import { loadWebConfig, webUrl } from './webConfig.ts';

const config = loadWebConfig();
const staticDir = join(import.meta.dirname, '..', 'dist');
const files = await loadStaticFiles(staticDir).catch((error: unknown) => {
  console.error(
    `web: ${error instanceof Error ? error.message : String(error)} (npm run build -w web, or npm run up)`,
  );
  process.exit(1);
});
const { app } = createWebGateway(
  {
    writeUrl: config.writeUrl,
    readUrl: config.readUrl,
    staticDir,
    ...(config.secureCookies === undefined ? {} : { secureCookies: config.secureCookies }),
    clientAddress: (c) => {
      const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
      const forwarded = config.trustProxy
        ? c.req.header('x-forwarded-for')?.split(',')[0]?.trim()
        : undefined;
      return forwarded ?? env?.incoming?.socket?.remoteAddress;
    },
  },
  files,
);
const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
  console.log(
    JSON.stringify({
      time: new Date().toISOString(),
      level: 'info',
      msg: 'listening',
      process: 'web',
      url: webUrl({ host: config.host, port: info.port }),
    }),
  );
});
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5_000).unref();
  });
