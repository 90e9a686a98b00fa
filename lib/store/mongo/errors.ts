/** Translation of driver failures into drover errors, in one place. */
import { MongoError } from 'mongodb';
import { StoreError } from '../../errors';

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
