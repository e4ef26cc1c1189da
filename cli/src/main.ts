/**
 * The DeepLens command line: `npm run deeplens -- <command>`; `--help` lists the commands.
 * Exit codes: 0 done, 1 refused or failed, 2 bad command line, 3 unreachable, 4 not signed in.
 */
import { cliUsage, parseCliArguments } from './cliArguments.ts';
import { runCommand } from './cliCommands.ts';
import { describeError, exitCodeOf, PartialFailure } from './cliErrors.ts';
import { credentialsPath } from './credentialsStore.ts';
import { readSecret } from './readSecret.ts';

try {
  const { command, global } = parseCliArguments(process.argv.slice(2));
  if (command.name === 'help') {
    console.log(cliUsage);
  } else {
    await runCommand(command, {
      global,
      env: process.env,
      credentialsFile: credentialsPath(),
      out: (line) => console.log(line),
      stderr: process.stderr,
      readSecret,
    });
  }
} catch (error) {
  // A partial failure has been reported already, with its details.
  if (!(error instanceof PartialFailure)) for (const line of describeError(error)) console.error(line);
  process.exitCode = exitCodeOf(error);
}
