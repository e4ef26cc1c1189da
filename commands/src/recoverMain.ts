/**
 * Recovers the write model from the log — the operator's entry, which needs no sign-in (it
 * reads Kafka and writes PostgreSQL with the process's own configuration):
 *
 *   npx tsx commands/src/recoverMain.ts [--force | --verify] [--json]
 *   npm run deeplens -- recover [--force | --verify] [--json]      (the same)
 *
 * Exit codes: 0 recovered (or, with --verify, no difference), 1 refused, failed or different,
 * 2 bad command line.
 */
import { parseRecoverArguments, recoverUsage, runRecover } from './recoverCommand.ts';

let parsed: ReturnType<typeof parseRecoverArguments>;
try {
  parsed = parseRecoverArguments(process.argv.slice(2));
} catch (error) {
  console.error(`recover: ${error instanceof Error ? error.message : String(error)}\n\n${recoverUsage}`);
  process.exit(2);
}
if (parsed.help) {
  console.log(recoverUsage);
  process.exit(0);
}
process.exit(
  await runRecover(parsed, { out: (line) => console.log(line), stderr: process.stderr, env: process.env }),
);
