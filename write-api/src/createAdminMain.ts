/**
 * Creates the first platform admin: `npm run create-admin -- <email>` reads the password from
 * standard input (never from the command line, where it would land in shell history).
 */
import { loadConfig } from '@deeplens/platform/config';
import { createLogger } from '@deeplens/platform/logger';
import { createWriteApiDependencies, ensurePlatformAdmin } from './writeApiRuntime.ts';

const [email] = process.argv.slice(2);
if (!email) {
  console.error('usage: npm run create-admin -- <email>   (password on standard input, 12+ characters)');
  process.exit(2);
}
let password = '';
for await (const chunk of process.stdin) password += String(chunk);
password = password.replace(/\r?\n$/, '');
const config = loadConfig();
const deps = await createWriteApiDependencies(config, createLogger({ process: 'create-admin' }, 'warn'));
try {
  console.log(`platform admin ${email}: ${await ensurePlatformAdmin(deps, email, password)}`);
} finally {
  await deps.pool.end();
}
