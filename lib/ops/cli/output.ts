/**
 * Where the CLI writes: results to stdout (JSON only with `--json`), notes and errors to stderr,
 * and the exit codes it ends with.
 */
import { CommanderError } from 'commander';
import { DroverError, ErrorCode, InvalidArgumentError } from '../../errors';

/** Success (including actions that found nothing to change). */
export const EXIT_OK = 0;
/** A failure: an action refused or in conflict, a job not found, a timeout, a server error. */
export const EXIT_FAILURE = 1;
/** Bad input: an unknown option, a malformed ID, queue name, duration or URI. */
export const EXIT_USAGE = 2;

/** The streams the CLI writes to (the process's, or a test's). */
export interface CliStreams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Writes results as JSON or as text for humans. */
export class Printer {
  constructor(
    readonly streams: CliStreams,
    readonly json: boolean,
  ) {}

  /** Prints a command's result: `value` as JSON, or the text `human()` makes. */
  result(value: unknown, human: () => string): void {
    const text = this.json ? JSON.stringify(value, null, 2) : human();
    if (text.length > 0) this.streams.stdout.write(`${text}\n`);
  }

  /** A note for humans on stderr (never mixed into JSON output). */
  note(text: string): void {
    this.streams.stderr.write(`${text}\n`);
  }

  /** Reports an error on stderr (as JSON with `--json`) and returns the exit code. */
  error(err: unknown): number {
    const code = exitCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    const errorCode = err instanceof DroverError ? err.code : err instanceof Error ? err.name : '';
    if (this.json) {
      this.streams.stderr.write(`${JSON.stringify({ error: { code: errorCode, message } })}\n`);
    } else {
      this.streams.stderr.write(`drover: ${message}\n`);
    }
    return code;
  }
}

/** The exit code of a failure: 2 for bad input, 1 for everything else. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  if (err instanceof InvalidArgumentError) return EXIT_USAGE;
  if (err instanceof DroverError && err.code === ErrorCode.Invalid) return EXIT_USAGE;
  // The driver's own "bad connection string" error.
  if (err instanceof Error && err.name === 'MongoParseError') return EXIT_USAGE;
  return EXIT_FAILURE;
}
