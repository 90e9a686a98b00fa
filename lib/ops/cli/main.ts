#!/usr/bin/env node
/**
 * Entry point of the `drover` command (package.json `bin`). See program.ts for the commands.
 */
import { runCli } from './program';

runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `drover: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
