/**
 * Every filter and update of the scope-locks collection. The unique `_id` (`${queue}/${scope}`,
 * or `${queue}/$slot/${i}/${key}` for a concurrency-key slot) is the lock: an insert that hits a
 * duplicate key means the scope (or slot) is held.
 */
import type { ClientSession, Collection, Db, Filter } from 'mongodb';
import { MongoBulkWriteError } from 'mongodb';
import { compareStrings, type SessionOptions } from '../job-store';
import type { ScopeLockDocument, ScopeReleaseFilter, ScopeStore } from '../scope-store';
import { setTimeout as delay } from 'node:timers/promises';
import {
  DUPLICATE_KEY,
  isDuplicateKey,
  isWriteConflict,
  storeError,
  WRITE_CONFLICT,
} from './errors';
import { sessionError, sessionOp } from './transactions';

type Doc = ScopeLockDocument;

/** Retries of locks a write conflict (a broken deadlock) refused, and their base delay. */
const SCOPE_INSERT_RETRIES = 5;
const SCOPE_RETRY_MS = 5;

/** Lists the locks of a queue and finds those of one job. */
const SCOPE_INDEXES = [{ name: 'holder', key: { queue: 1, holder: 1 } }];

function releaseFilter(f: ScopeReleaseFilter): Filter<Doc> {
  const filter: Filter<Doc> = { _id: { $in: f.ids } };
  if (f.tokens !== undefined) filter.token = { $in: f.tokens };
  if (f.kind !== undefined) filter.kind = f.kind;
  if (f.holder !== undefined) filter.holder = f.holder;
  if (f.attemptId !== undefined) filter.attemptId = f.attemptId;
  if (f.owner !== undefined) filter.owner = f.owner;
  return filter;
}

/** The filter of `scopeList`: the locks of a queue, or of one holder in it. */
function listFilter(params: { queue: string; holder?: string }): Filter<Doc> {
  const filter: Filter<Doc> = { queue: params.queue };
  if (params.holder !== undefined) filter.holder = params.holder;
  return filter;
}

/** MongoDB implementation of the scope-lock storage protocol. */
export class MongoScopeStore implements ScopeStore {
  /** Filter builders, for index checks (test/store/explain.test.ts). */
  static readonly listFilter = listFilter;
  static readonly releaseFilter = releaseFilter;

  readonly scopes: Collection<Doc>;

  constructor(db: Db, collectionName = 'drover_scopes') {
    this.scopes = db.collection<Doc>(collectionName);
  }

  async init(): Promise<void> {
    try {
      await this.scopes.createIndexes(SCOPE_INDEXES);
    } catch (err) {
      throw storeError('creating scope indexes', err);
    }
  }

  async scopeInsert(locks: Doc[], options: SessionOptions = {}): Promise<string[]> {
    if (locks.length === 0) return [];
    if (options.session) return this.scopeInsertInSession(locks, options.session);
    // One order in every process: two takes of overlapping scopes then wait for each other
    // instead of deadlocking (DocumentDB checks an insert's unique key under PostgreSQL row locks).
    let pending = [...locks].sort((a, b) => compareStrings(a._id, b._id));
    const held: string[] = [];
    for (let round = 0; ; round++) {
      const { conflicts, deadlocked } = await this.insertLocks(pending);
      // After a retry a duplicate may be this call's own lock, inserted before the conflict.
      held.push(...(round === 0 ? conflicts : await this.notOurs(conflicts, pending)));
      if (deadlocked.length === 0) return held;
      if (round >= SCOPE_INSERT_RETRIES) {
        throw storeError('inserting scope locks', new Error('write conflicts persisted'));
      }
      pending = deadlocked;
      await delay(SCOPE_RETRY_MS * (round + 1) * (0.5 + Math.random()));
    }
  }

  /**
   * Inserts `locks`: the IDs found held (duplicate key) and the locks a write conflict refused
   * (a deadlock PostgreSQL broke; DocumentDB reports it as code 112 and retries only updates).
   */
  private async insertLocks(locks: Doc[]): Promise<{ conflicts: string[]; deadlocked: Doc[] }> {
    try {
      if (locks.length === 1) await this.scopes.insertOne(locks[0]);
      else await this.scopes.insertMany(locks, { ordered: false });
      return { conflicts: [], deadlocked: [] };
    } catch (err) {
      const errs = err instanceof MongoBulkWriteError ? [err.writeErrors].flat() : [];
      if (errs.length > 0) {
        const conflicts: string[] = [];
        const deadlocked: Doc[] = [];
        for (const e of errs) {
          if (e.code === DUPLICATE_KEY || e.code === 11001) conflicts.push(locks[e.index]._id);
          else if (e.code === WRITE_CONFLICT) deadlocked.push(locks[e.index]);
          // Any other failure is the database's.
          else throw storeError('inserting scope locks', err);
        }
        return { conflicts, deadlocked };
      }
      if (isDuplicateKey(err)) return { conflicts: [locks[0]._id], deadlocked: [] };
      // The whole command was rolled back: every lock is tried again.
      if (isWriteConflict(err)) return { conflicts: [], deadlocked: locks };
      throw storeError('inserting scope locks', err);
    }
  }

  /** Of `ids` found held, those not held by this very acquisition (its token). */
  private async notOurs(ids: string[], mine: Doc[]): Promise<string[]> {
    if (ids.length === 0) return ids;
    const tokens = new Map(mine.map((l) => [l._id, l.token]));
    const found = await this.scopeGetMany(ids);
    const ours = new Set(found.filter((d) => tokens.get(d._id) === d.token).map((d) => d._id));
    return ids.filter((id) => !ours.has(id));
  }

  /**
   * Inside the caller's session a duplicate key would abort a MongoDB transaction: held locks are
   * read first and only the free ones inserted. DocumentDB (whose transactions see commits made
   * after they began) may still report a duplicate: it leaves the transaction alive, so it counts
   * as held, as without a session.
   */
  private async scopeInsertInSession(locks: Doc[], session: ClientSession): Promise<string[]> {
    try {
      const held = new Set(
        (
          await this.scopes
            .find({ _id: { $in: locks.map((l) => l._id) } }, { session, projection: { _id: 1 } })
            .toArray()
        ).map((d) => d._id),
      );
      const conflicts: string[] = [];
      for (const lock of locks) {
        // Held, or inserted by an earlier lock of this very call (two jobs of a batch).
        if (held.has(lock._id)) {
          conflicts.push(lock._id);
          continue;
        }
        try {
          await this.scopes.insertOne(lock, { session });
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          conflicts.push(lock._id);
        }
        held.add(lock._id);
      }
      return conflicts;
    } catch (err) {
      throw sessionError('inserting scope locks', err);
    }
  }

  async scopeGet(id: string, { session }: SessionOptions = {}): Promise<Doc | null> {
    return sessionOp(session, 'reading a scope lock', () =>
      this.scopes.findOne({ _id: id }, { session }),
    );
  }

  async scopeGetMany(ids: string[]): Promise<Doc[]> {
    if (ids.length === 0) return [];
    return this.scopes.find({ _id: { $in: ids } }).toArray();
  }

  async scopeTakeOver(
    params: { lock: Doc; expectedToken: string },
    { session }: SessionOptions = {},
  ): Promise<boolean> {
    const { _id, ...rest } = params.lock;
    const res = await sessionOp(session, 'taking a scope lock over', () =>
      this.scopes.replaceOne({ _id, token: params.expectedToken }, rest, { session }),
    );
    return res.matchedCount === 1;
  }

  async scopeRefresh(params: { id: string; token: string; expiresAt: Date }): Promise<boolean> {
    const res = await this.scopes.updateOne(
      { _id: params.id, token: params.token },
      { $set: { expiresAt: params.expiresAt } },
    );
    return res.matchedCount === 1;
  }

  async scopeRelease(
    filters: ScopeReleaseFilter[],
    { session }: SessionOptions = {},
  ): Promise<number> {
    const nonEmpty = filters.filter((f) => f.ids.length > 0);
    if (nonEmpty.length === 0) return 0;
    const filter =
      nonEmpty.length === 1 ? releaseFilter(nonEmpty[0]) : { $or: nonEmpty.map(releaseFilter) };
    const res = await sessionOp(session, 'releasing scope locks', () =>
      this.scopes.deleteMany(filter, { session }),
    );
    return res.deletedCount;
  }

  async scopeList(params: { queue: string; holder?: string }): Promise<Doc[]> {
    return this.scopes.find(listFilter(params)).sort({ _id: 1 }).toArray();
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it.
  }
}
