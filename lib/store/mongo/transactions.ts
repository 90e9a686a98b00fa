/**
 * Sessions and transactions on MongoDB, for every store module: whether the server can give a
 * transaction at all (a session gate per store, asked before anything is written), how the
 * caller's session is checked, and the retry loop of a transaction drover runs itself (a job's
 * transactional completion), which follows the driver's convenient-transaction rules and adds
 * DocumentDB's write conflict (code 112 without the TransientTransactionError label).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ClientSession, Db, Document } from 'mongodb';
import { MongoCompatibilityError, MongoError } from 'mongodb';
import { InvalidArgumentError, TransactionsUnsupportedError } from '../../errors';
import { backoffMs } from '../../timers/sleep';
import type { TransactionRunOptions } from '../job-store';
import { storeError, WRITE_CONFLICT } from './errors';

const TRANSIENT = 'TransientTransactionError';
const UNKNOWN_COMMIT = 'UnknownTransactionCommitResult';
const COMMAND_NOT_FOUND = 59;
const MAX_TIME_MS_EXPIRED = 50;
/** Error codes of a server refusing transactions (IllegalOperation: "only on a replica set"). */
const NO_TRANSACTION_CODES = new Set([20]);
/** Pause between two tries of a transaction after a transient error: doubling, jittered. */
const RETRY_DELAY_MIN_MS = 5;
const RETRY_DELAY_MAX_MS = 500;

/**
 * True when a failed transaction may succeed if run again from the start: the server said so
 * (TransientTransactionError), or it is a write conflict without the label (DocumentDB). Wrapped
 * errors (a StoreError's cause) are looked through.
 */
export function isTransientTransactionError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (!(e instanceof MongoError)) continue;
    if (e.hasErrorLabel(TRANSIENT) || e.code === WRITE_CONFLICT) return true;
  }
  return false;
}

/**
 * A driver error raised by an operation inside the caller's session, translated: a refusal of
 * sessions or transactions becomes TransactionsUnsupportedError; other driver errors go through
 * unwrapped, so the driver's `withTransaction` still sees their labels, and a write conflict gets
 * the TransientTransactionError label DocumentDB leaves out (the driver then retries it). Anything
 * else is wrapped as for calls without a session.
 */
export function sessionError(what: string, err: unknown): Error {
  if (!(err instanceof MongoError)) return storeError(what, err);
  if (refusesTransactions(err)) {
    return new TransactionsUnsupportedError(`the server refused a transaction (${err.message})`, {
      cause: err,
    });
  }
  if (err.code === WRITE_CONFLICT && !err.hasErrorLabel(TRANSIENT)) err.addErrorLabel(TRANSIENT);
  return err;
}

/**
 * Runs `op`; with a session, a failure is translated by `sessionError` (without one, it is
 * thrown as it comes, as store calls without sessions do).
 */
export async function sessionOp<T>(
  session: ClientSession | undefined,
  what: string,
  op: () => Promise<T>,
): Promise<T> {
  if (!session) return op();
  try {
    return await op();
  } catch (err) {
    throw sessionError(what, err);
  }
}

/** A server (or the driver, for a topology without sessions) refusing transactions. */
function refusesTransactions(err: MongoError): boolean {
  if (typeof err.code === 'number' && NO_TRANSACTION_CODES.has(err.code)) return true;
  // The driver's own refusal ("topology does not support sessions") carries no code.
  return err instanceof MongoCompatibilityError;
}

/** Whether a server answering `hello` (or `isMaster`) this way runs multi-document transactions. */
export function helloAllowsTransactions(hello: Document): { ok: boolean; why: string } {
  if (typeof hello.logicalSessionTimeoutMinutes !== 'number') {
    return { ok: false, why: 'the server has no sessions' };
  }
  const replicaSet = typeof hello.setName === 'string';
  const router = hello.msg === 'isdbgrid';
  const loadBalanced = hello.serviceId !== undefined;
  if (!replicaSet && !router && !loadBalanced) {
    return { ok: false, why: 'the server is a standalone (transactions need a replica set)' };
  }
  return { ok: true, why: '' };
}

/**
 * The transaction support of one database's server, asked once (a `hello`, or `isMaster` on
 * servers without it) and remembered, and the checks of a caller's session.
 */
export class SessionGate {
  private support?: Promise<{ ok: boolean; why: string }>;

  constructor(private readonly db: Db) {}

  /** Throws TransactionsUnsupportedError where the server has no transactions. */
  async assertTransactions(): Promise<void> {
    const support = await (this.support ??= this.probe());
    if (!support.ok) throw new TransactionsUnsupportedError(support.why);
  }

  /** Whether the server has transactions (asked once, then remembered). */
  async hasTransactions(): Promise<boolean> {
    return (await (this.support ??= this.probe())).ok;
  }

  /**
   * Refuses a session that cannot take part: not a session, ended, a snapshot session, or no
   * transactions on the server. (A session of another client is refused by the driver at the
   * first read, before anything is written.)
   */
  async check(session: ClientSession): Promise<void> {
    if (typeof session !== 'object' || session === null || !('hasEnded' in session)) {
      throw new InvalidArgumentError('session must be a ClientSession of the MongoDB driver');
    }
    if (session.hasEnded) throw new InvalidArgumentError('the session has ended');
    if (session.snapshotEnabled) {
      throw new InvalidArgumentError('a snapshot session cannot run transactions');
    }
    await this.assertTransactions();
  }

  private async probe(): Promise<{ ok: boolean; why: string }> {
    const admin = this.db.admin();
    try {
      let hello: Document;
      try {
        hello = await admin.command({ hello: 1 });
      } catch (err) {
        if (!(err instanceof MongoError) || err.code !== COMMAND_NOT_FOUND) throw err;
        hello = await admin.command({ isMaster: 1 });
      }
      return helloAllowsTransactions(hello);
    } catch (err) {
      // Not remembered: the next call asks again.
      this.support = undefined;
      throw storeError('asking the server about transactions', err);
    }
  }
}

/**
 * Runs `fn` in a transaction of a new session and commits it, as the driver's `withTransaction`
 * does, with DocumentDB's unlabelled write conflict counted as transient and a time bound of our
 * own: on a transient error the transaction is aborted and `fn` runs again in a new one; on an
 * unknown commit result the commit is retried. The session is ended whatever happens.
 */
export async function runTransaction<T>(
  startSession: () => ClientSession,
  fn: (session: ClientSession) => Promise<T>,
  options: TransactionRunOptions,
): Promise<T> {
  const started = Date.now();
  const mayRetry = (): boolean =>
    Date.now() - started < options.retryTimeoutMs && !options.signal?.aborted;
  const session = startSession();
  try {
    for (let attempt = 0; ; attempt++) {
      session.startTransaction();
      let result: T;
      try {
        result = await fn(session);
      } catch (err) {
        if (session.inTransaction()) await session.abortTransaction().catch(() => undefined);
        if (!isTransientTransactionError(err) || !mayRetry()) throw err;
        await delay(backoffMs(attempt, RETRY_DELAY_MIN_MS, RETRY_DELAY_MAX_MS));
        continue;
      }
      const outcome = await commit(session, mayRetry);
      if (outcome === 'committed') return result;
      await delay(backoffMs(attempt, RETRY_DELAY_MIN_MS, RETRY_DELAY_MAX_MS));
    }
  } finally {
    await session.endSession().catch(() => undefined);
  }
}

/** Commits; retries an unknown result; 'retry' when the whole transaction should run again. */
async function commit(
  session: ClientSession,
  mayRetry: () => boolean,
): Promise<'committed' | 'retry'> {
  for (;;) {
    try {
      await session.commitTransaction();
      return 'committed';
    } catch (err) {
      // MaxTimeMSExpired on commit is final, as the driver's convenient API has it.
      const unknown =
        err instanceof MongoError &&
        err.hasErrorLabel(UNKNOWN_COMMIT) &&
        err.code !== MAX_TIME_MS_EXPIRED;
      if (unknown && mayRetry()) continue;
      if (isTransientTransactionError(err) && mayRetry()) return 'retry';
      throw err;
    }
  }
}
