/**
 * The `drover` command line: global options, the commands, and how each ends (exit codes).
 * `runCli` is the whole program as a function, so tests and other tools can call it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { registerJobCommands } from './commands/jobs';
import { registerQueueCommands } from './commands/queues';
import { registerServerCommands } from './commands/servers';
import { Actions, type CliEnvironment } from './actions';
import { CLI_DB_DEFAULT } from './context';
import { EXIT_OK, exitCodeOf } from './output';

/** The program with every command. */
export function buildProgram(environment: CliEnvironment, state: { code: number }): Command {
  const { streams } = environment;
  const program = new Command('drover')
    .description('Inspect and steer drover job queues on MongoDB.')
    .version(version(), '-V, --version')
    .addOption(new Option('--uri <uri>', 'MongoDB connection string (env MONGODB_URI)'))
    .addOption(
      new Option('--db <name>', `database name (env DROVER_DB, default "${CLI_DB_DEFAULT}")`),
    )
    .addOption(new Option('--prefix <prefix>', 'collection name prefix (default "drover")'))
    .option('--json', 'print JSON only (for scripts)')
    .addOption(
      new Option('--log-level <level>', 'log level on stderr (env LOG_LEVEL, default "warn")'),
    )
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (s) => streams.stdout.write(s),
      writeErr: (s) => streams.stderr.write(s),
    })
    .exitOverride();
  const actions = new Actions(environment, state);
  registerQueueCommands(program, actions);
  registerJobCommands(program, actions);
  registerServerCommands(program, actions);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/**
 * Runs the program on `argv` (as `process.argv`, program path included) and returns the exit
 * code: 0 on success, 1 on failure, 2 on bad input.
 */
export async function runCli(
  argv: string[],
  environment: CliEnvironment = {
    streams: { stdout: process.stdout, stderr: process.stderr },
    env: process.env,
  },
): Promise<number> {
  const state = { code: EXIT_OK };
  const program = buildProgram(environment, state);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // Help and version end with 0; a usage error (commander printed it) with 2.
    if (err instanceof CommanderError) return exitCodeOf(err);
    throw err;
  }
  return state.code;
}

/** The package version, from the nearest drover package.json above this file. */
function version(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'drover') return pkg.version ?? '0.0.0';
    }
    if (path.dirname(dir) === dir) return '0.0.0';
  }
}
