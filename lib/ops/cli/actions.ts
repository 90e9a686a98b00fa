/**
 * How the CLI's commands run: the call a handler receives, and `Actions`, which wraps handlers
 * with option resolution, a database connection and exit codes. Kept apart from program.ts so
 * the command modules need not import the program that registers them.
 */
import type { Command } from 'commander';
import {
  openContext,
  resolveCliOptions,
  type CliContext,
  type GlobalOptions,
  type ResolvedCliOptions,
} from './context';
import { EXIT_OK, Printer, type CliStreams } from './output';

/** What a command's handler receives. */
export interface CommandCall {
  /** Positional arguments. */
  args: string[];
  /** The command's own options. */
  opts: Record<string, unknown>;
  options: ResolvedCliOptions;
  printer: Printer;
}

/** A command's handler; returns its exit code (default 0). */
export type Handler = (call: CommandCall) => Promise<number | void>;
/** A handler that needs the database. */
export type DbHandler = (call: CommandCall & { ctx: CliContext }) => Promise<number | void>;

/** The environment the program runs in. */
export interface CliEnvironment {
  streams: CliStreams;
  env: NodeJS.ProcessEnv;
}

/** Builds actions from handlers, recording each one's exit code in `state`. */
export class Actions {
  constructor(
    private readonly environment: CliEnvironment,
    private readonly state: { code: number },
  ) {}

  /** An action that runs `handler` with the resolved global options. */
  plain(handler: Handler): (...args: unknown[]) => Promise<void> {
    return async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const global = cmd.optsWithGlobals<GlobalOptions>();
      const printer = new Printer(this.environment.streams, global.json ?? false);
      try {
        const options = resolveCliOptions(global, this.environment.env);
        const call = { args: cmd.args, opts: cmd.opts(), options, printer };
        this.state.code = (await handler(call)) ?? EXIT_OK;
      } catch (err) {
        this.state.code = printer.error(err);
      }
    };
  }

  /** An action that connects first and always closes the connection after `handler`. */
  db(handler: DbHandler): (...args: unknown[]) => Promise<void> {
    return this.plain(async (call) => {
      const ctx = await openContext(call.options);
      try {
        return await handler({ ...call, ctx });
      } finally {
        await ctx.close();
      }
    });
  }
}
