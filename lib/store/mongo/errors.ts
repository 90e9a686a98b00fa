/** Translation of driver failures into drover errors, in one place. */
import { setTimeout as delay } from 'node:timers/promises';
import { MongoBulkWriteError, MongoError } from 'mongodb';
import { StoreError } from '../../errors';
import { backoffMs } from '../../timers/sleep';

/** MongoDB's duplicate-key code. The test server gives no keyPattern, so callers know the index by collection. */
export const DUPLICATE_KEY = 11000;

/** True when a driver error (or a bulk write error) is a duplicate key. */
export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoError && (err.code === DUPLICATE_KEY || err.code === 11001);
}

/** Wraps an unexpected driver error. */
export function storeError(what: string, err: unknown): StoreError {
  const message = err instanceof Error ? err.message : String(err);
  return new StoreError(`${what}: ${message}`, err);
}

/** WriteConflict; DocumentDB also reports a deadlock PostgreSQL broke between two statements so. */
export const WRITE_CONFLICT = 112;

/** True when the server refused a statement (or every refused write of a bulk) as a conflict. */
export function isWriteConflict(err: unknown): boolean {
  if (err instanceof MongoBulkWriteError) {
    const errs = [err.writeErrors].flat();
    if (errs.length > 0) return errs.every((e) => e.code === WRITE_CONFLICT);
  }
  return err instanceof MongoError && err.code === WRITE_CONFLICT;
}

/** Tries of a statement that write conflicts refused, and the pauses between them (ms). */
const CONFLICT_TRIES = 5;
const CONFLICT_PAUSE_MS = 5;
const CONFLICT_PAUSE_MAX_MS = 100;

/**
 * Runs a statement outside a transaction again when the server refuses it with a write
 * conflict: MongoDB resolves those itself, DocumentDB reports a deadlock between two statements
 * over the same jobs (a heartbeat and a group of completions of one pool, two claims) as one.
 * Only for statements whose second run changes nothing the first one did: guarded by token and
 * modCount, or `$max`.
 */
export async function retryWriteConflicts<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isWriteConflict(err) || attempt + 1 >= CONFLICT_TRIES) throw err;
      await delay(backoffMs(attempt, CONFLICT_PAUSE_MS, CONFLICT_PAUSE_MAX_MS));
    }
  }
}
