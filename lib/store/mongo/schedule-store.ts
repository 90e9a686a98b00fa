/**
 * Every filter, update and index of the schedules collection (`${prefix}_schedules`). Nothing
 * else in drover reads or writes schedule entries in MongoDB. See lib/store/schedule-store.ts for the
 * rules: definition changes match on `revision`, `lastTick` only moves forward.
 */
import type { ClientSession, Collection, Db, Filter, IndexDescription } from 'mongodb';
import type { SessionOptions } from '../job-store';
import type { ScheduleDocument, ScheduleStore } from '../schedule-store';
import { isDuplicateKey, storeError } from './errors';
import { SessionGate, sessionError, sessionOp } from './transactions';

type Doc = ScheduleDocument;

/** Serves `scheduleDue`: enabled entries by next tick. */
export const SCHEDULE_DUE_INDEX: IndexDescription = {
  name: 'due',
  key: { enabled: 1, nextTickAt: 1 },
};

/** Enabled entries due at `now` (`scheduleDue`, run by every scheduler each pass). */
export function scheduleDueFilter(now: Date): Filter<Doc> {
  return { enabled: true, nextTickAt: { $lte: now } };
}

/** The order of `scheduleDue`. */
export const SCHEDULE_DUE_SORT = { nextTickAt: 1, _id: 1 } as const;

/** MongoDB implementation of the schedule table. */
export class MongoScheduleStore implements ScheduleStore {
  /** The filter and order of `scheduleDue`, for index checks (test/store/explain.test.ts). */
  static readonly dueFilter = scheduleDueFilter;
  static readonly dueSort = SCHEDULE_DUE_SORT;

  readonly schedules: Collection<Doc>;
  private readonly sessions: SessionGate;

  constructor(db: Db, collectionName = 'drover_schedules') {
    this.schedules = db.collection<Doc>(collectionName);
    this.sessions = new SessionGate(db);
  }

  async sessionCheck(session: ClientSession): Promise<void> {
    await this.sessions.check(session);
  }

  async init(): Promise<void> {
    try {
      await this.schedules.createIndexes([SCHEDULE_DUE_INDEX]);
    } catch (err) {
      throw storeError('creating schedule indexes', err);
    }
  }

  async scheduleGet(key: string, { session }: SessionOptions = {}): Promise<Doc | null> {
    return sessionOp(session, 'reading a schedule', () =>
      this.schedules.findOne({ _id: key }, { session }),
    );
  }

  async scheduleList(params: { afterKey?: string; limit: number }): Promise<Doc[]> {
    const filter = params.afterKey === undefined ? {} : { _id: { $gt: params.afterKey } };
    return this.schedules.find(filter).sort({ _id: 1 }).limit(params.limit).toArray();
  }

  async scheduleDue(params: { now: Date; limit: number }): Promise<Doc[]> {
    return this.schedules
      .find(scheduleDueFilter(params.now))
      .sort(SCHEDULE_DUE_SORT)
      .limit(params.limit)
      .toArray();
  }

  async scheduleInsert(doc: Doc, options: SessionOptions = {}): Promise<boolean> {
    const { session } = options;
    try {
      await this.schedules.insertOne(doc, { session });
      return true;
    } catch (err) {
      // In a session the caller read the key first (a MongoDB transaction reports a key inserted
      // meanwhile as a write conflict; DocumentDB as a duplicate, its transaction left alive).
      if (isDuplicateKey(err)) return false;
      throw session
        ? sessionError('inserting a schedule', err)
        : storeError('inserting a schedule', err);
    }
  }

  async scheduleRedefine(
    params: Parameters<ScheduleStore['scheduleRedefine']>[0],
    { session }: SessionOptions = {},
  ): Promise<boolean> {
    const { queue, type, payload, options, everyMs, cron, timezone, enabled } = params.definition;
    const res = await sessionOp(session, 'redefining a schedule', () =>
      this.schedules.updateOne(
        { _id: params.key, revision: params.revision },
        {
          $set: {
            queue,
            type,
            payload,
            options,
            everyMs,
            cron,
            timezone,
            enabled,
            updatedAt: params.now,
            nextTickAt: params.nextTickAt,
          },
          $inc: { revision: 1 },
        },
        { session },
      ),
    );
    return res.matchedCount === 1;
  }

  async scheduleAdvance(params: Parameters<ScheduleStore['scheduleAdvance']>[0]): Promise<boolean> {
    const res = await this.schedules.updateOne(
      {
        _id: params.key,
        revision: params.revision,
        $or: [{ lastTick: null }, { lastTick: { $lt: params.tick } }],
      },
      { $set: { lastTick: params.tick, nextTickAt: params.nextTickAt } },
    );
    return res.matchedCount === 1;
  }

  async scheduleRemove(key: string, { session }: SessionOptions = {}): Promise<boolean> {
    const res = await sessionOp(session, 'removing a schedule', () =>
      this.schedules.deleteOne({ _id: key }, { session }),
    );
    return res.deletedCount === 1;
  }
}
