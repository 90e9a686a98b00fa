/**
 * What a MongoDB session means to the in-memory stores: nothing they can honour. They hold their
 * documents in this process and cannot commit or roll back with a MongoDB transaction, so a call
 * given a session is refused with TransactionsUnsupportedError before anything changes (never
 * done outside the transaction it was meant for).
 */
import { TransactionsUnsupportedError } from '../../errors';
import type { SessionOptions } from '../job-store';

/** Throws TransactionsUnsupportedError when `options` carries a session. */
export function refuseSession(options: SessionOptions | undefined): void {
  if (options?.session !== undefined) throw sessionRefusal();
}

/** The refusal of the in-memory stores. */
export function sessionRefusal(): TransactionsUnsupportedError {
  return new TransactionsUnsupportedError(
    'the in-memory store cannot take part in a MongoDB transaction',
  );
}
