/**
 * The writes a client sends, and the index keys they cost, measured on a real server:
 *
 * 1. `WriteCapture` records every write command a client sends (insert, update, delete,
 *    findAndModify) through the driver's command monitoring, with the server's reply;
 * 2. `replayKeys` replays them, in order, on an empty scratch database of the same server. Before
 *    and after each statement it reads the documents the statement touches, so every write has its
 *    document before and after, also when one step of a job's life issues several writes. The
 *    keys each write costs come from bench/index-keys.ts and the ORIGINAL collections' index
 *    definitions (`listIndexes`).
 *
 * The replay checks itself: each statement must match as many documents as it did the first time
 * (the reply's `n`), a findAndModify must find the document it changed (by the `_id` of its reply)
 * still matching its query, else a mismatch is reported.
 * Writes that failed the first time (duplicate keys, lost guards...) are skipped as the server
 * skipped them. Commands that write in ways not replayed (`aggregate` with `$out`/`$merge`,
 * transactions) are listed as unhandled.
 */
import { BSON, type Db, type Document, type MongoClient } from 'mongodb';
import { documentDbEntries, keysWritten, type IndexSpec } from './index-keys';

const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify']);

/** One write command as sent, with the server's reply. */
export interface CapturedWrite {
  /** Order of sending. */
  seq: number;
  db: string;
  collection: string;
  name: string;
  command: Document;
  reply?: Document;
  failed?: boolean;
}

/** Records the write commands of clients created with `monitorCommands: true`. */
export class WriteCapture {
  readonly writes: CapturedWrite[] = [];
  /** Commands seen that write in a way the replay does not follow. */
  readonly unhandled: string[] = [];
  private readonly inFlight = new Map<string, CapturedWrite>();
  private seq = 0;
  private on = true;

  /** Listens to `client`'s command events (it must monitor commands). */
  attach(client: MongoClient): void {
    const keyOf = (e: { requestId: number; connectionId?: string | number }): string =>
      `${String(e.connectionId)}/${e.requestId}`;
    client.on('commandStarted', (e) => {
      if (!this.on) return;
      if (
        e.commandName === 'aggregate' &&
        JSON.stringify(e.command.pipeline).match(/\$out|\$merge/)
      )
        this.unhandled.push(`aggregate writing on ${String(e.command.aggregate)}`);
      if (e.command.txnNumber !== undefined && e.command.startTransaction)
        this.unhandled.push(`transaction on ${e.databaseName}`);
      if (!WRITES.has(e.commandName)) return;
      const w: CapturedWrite = {
        seq: this.seq++,
        db: e.databaseName,
        collection: String(e.command[e.commandName]),
        name: e.commandName,
        // A deep copy: the driver's objects are not ours to keep.
        command: BSON.deserialize(BSON.serialize(e.command)),
      };
      this.writes.push(w);
      this.inFlight.set(keyOf(e), w);
    });
    client.on('commandSucceeded', (e) => {
      const w = this.inFlight.get(keyOf(e));
      if (!w) return;
      this.inFlight.delete(keyOf(e));
      w.reply = BSON.deserialize(BSON.serialize(e.reply as Document));
    });
    client.on('commandFailed', (e) => {
      const w = this.inFlight.get(keyOf(e));
      if (!w) return;
      this.inFlight.delete(keyOf(e));
      w.failed = true;
    });
  }

  /** The boundary between what was sent so far and what comes next. */
  mark(): number {
    return this.seq;
  }

  /** Stops recording (writes in flight still get their replies). */
  stop(): void {
    this.on = false;
  }
}

/** What the writes of one window cost in one collection. */
export interface CollectionKeys {
  /** Write statements that changed or created at least one document. */
  writes: number;
  /** Documents inserted, updated or deleted (one per document per statement). */
  docs: number;
  /** Index keys written (MongoDB's rules: removed + added, per index). */
  keys: number;
  byIndex: Record<string, number>;
  /** Index entries DocumentDB adds for the same writes (every index, each new version). */
  documentDbEntries: number;
}

/** A range of captured writes, by `seq`: [from, to). */
export interface ReplayWindow {
  name: string;
  from: number;
  to: number;
}

/** What one captured write cost (writes inside a window only). */
export interface WriteKeys extends CollectionKeys {
  window: string;
  collection: string;
  /** The command: insert, update, delete or findAndModify. */
  command: string;
}

export interface ReplayResult {
  /** Window name -> collection -> figures. */
  windows: Record<string, Record<string, CollectionKeys>>;
  /** Each write of a window, in order of sending. */
  perWrite: WriteKeys[];
  /** Statements whose replay did not do what the original did (should be none). */
  mismatches: string[];
  unhandled: string[];
}

/** Every collection's index definitions in `db`, as `listIndexes` gives them. */
export async function indexDefinitions(db: Db): Promise<Record<string, IndexSpec[]>> {
  const out: Record<string, IndexSpec[]> = {};
  for (const c of await db.listCollections({}, { nameOnly: true }).toArray()) {
    if (c.name.startsWith('system.')) continue;
    out[c.name] = (await db.collection(c.name).listIndexes().toArray()) as IndexSpec[];
  }
  return out;
}

function emptyKeys(): CollectionKeys {
  return { writes: 0, docs: 0, keys: 0, byIndex: {}, documentDbEntries: 0 };
}

/** Statements of a command that the server applied (ordered commands stop at the first error). */
function appliedStatements<T>(statements: T[], command: Document, reply: Document): T[] {
  const errors = ((reply.writeErrors ?? []) as { index: number }[]).map((e) => e.index);
  if (errors.length === 0) return statements;
  if (command.ordered !== false) return statements.slice(0, Math.min(...errors));
  return statements.filter((_, i) => !errors.includes(i));
}

/** Replays the captured writes on `scratch` and counts what each window's writes cost. */
export async function replayKeys(
  capture: WriteCapture,
  options: {
    db: string;
    scratch: Db;
    indexes: Record<string, IndexSpec[]>;
    windows: ReplayWindow[];
  },
): Promise<ReplayResult> {
  const result: ReplayResult = {
    windows: {},
    perWrite: [],
    mismatches: [],
    unhandled: [...capture.unhandled],
  };
  for (const w of options.windows) result.windows[w.name] = {};
  const { scratch } = options;
  const end = Math.max(...options.windows.map((x) => x.to));
  for (const w of capture.writes) {
    // Later writes cannot change what an earlier one cost.
    if (w.seq >= end) break;
    if (w.db !== options.db || w.failed || !w.reply || w.reply.ok !== 1) continue;
    const window = options.windows.find((x) => w.seq >= x.from && w.seq < x.to);
    const indexes = options.indexes[w.collection] ?? [];
    const one: WriteKeys = {
      ...emptyKeys(),
      window: window?.name ?? '',
      collection: w.collection,
      command: w.name,
    };
    const count = (before: Document | null, after: Document | null): void => {
      const k = keysWritten(indexes, before, after);
      one.docs += 1;
      one.keys += k.total;
      for (const [name, n] of Object.entries(k.byIndex)) {
        one.byIndex[name] = (one.byIndex[name] ?? 0) + n;
      }
      one.documentDbEntries += documentDbEntries(indexes, before, after);
    };
    const touched = await replayOne(scratch, w, count, result.mismatches);
    if (!window || touched === 0) continue;
    one.writes = 1;
    result.perWrite.push(one);
    addKeys((result.windows[window.name][w.collection] ??= emptyKeys()), one);
  }
  return result;
}

/** Adds `b`'s figures to `a`. */
export function addKeys(a: CollectionKeys, b: CollectionKeys): void {
  a.writes += b.writes;
  a.docs += b.docs;
  a.keys += b.keys;
  a.documentDbEntries += b.documentDbEntries;
  for (const [name, n] of Object.entries(b.byIndex)) a.byIndex[name] = (a.byIndex[name] ?? 0) + n;
}

type Count = (before: Document | null, after: Document | null) => void;

/** Replays one command; returns how many documents it touched. */
async function replayOne(
  scratch: Db,
  w: CapturedWrite,
  count: Count,
  mismatches: string[],
): Promise<number> {
  const coll = scratch.collection(w.collection);
  const reply = w.reply as Document;
  const what = `${w.name} #${w.seq} on ${w.collection}`;
  const check = (replayed: number, original: unknown): void => {
    if (typeof original === 'number' && replayed !== original) {
      mismatches.push(`${what}: ${replayed} documents on replay, ${original} originally`);
    }
  };
  if (w.name === 'insert') {
    const docs = appliedStatements(w.command.documents as Document[], w.command, reply);
    if (docs.length > 0) await coll.insertMany(docs, { ordered: true });
    for (const d of docs) count(null, d);
    check(docs.length, reply.n);
    return docs.length;
  }
  if (w.name === 'update') {
    let touched = 0;
    for (const s of appliedStatements(w.command.updates as Document[], w.command, reply)) {
      touched += await replayUpdate(scratch, w.collection, s, count);
    }
    check(touched, reply.n);
    return touched;
  }
  if (w.name === 'delete') {
    let touched = 0;
    for (const s of appliedStatements(w.command.deletes as Document[], w.command, reply)) {
      const before = await coll.find(s.q as Document, { limit: s.limit === 1 ? 1 : 0 }).toArray();
      if (before.length === 0) continue;
      await coll.deleteMany({ _id: { $in: before.map((d) => d._id) } });
      for (const d of before) count(d, null);
      touched += before.length;
    }
    check(touched, reply.n);
    return touched;
  }
  return replayFindAndModify(scratch, w, count, (m) => mismatches.push(`${what}: ${m}`));
}

/** One update statement: the documents it matches now, updated by `_id`, read before and after. */
async function replayUpdate(
  scratch: Db,
  collection: string,
  s: Document,
  count: Count,
): Promise<number> {
  const coll = scratch.collection(collection);
  const q = s.q as Document;
  const before = await coll.find(q, { limit: s.multi ? 0 : 1 }).toArray();
  const ids = before.map((d) => d._id);
  const statement: Document = { q, u: s.u, multi: true, upsert: false };
  if (s.arrayFilters) statement.arrayFilters = s.arrayFilters;
  if (ids.length > 0) {
    statement.q = { $and: [q, { _id: { $in: ids } }] };
  } else if (s.upsert) {
    statement.multi = false;
    statement.upsert = true;
  } else {
    return 0;
  }
  const res = await scratch.command({ update: collection, updates: [statement] });
  const upserted = ((res.upserted ?? []) as { _id: unknown }[]).map((u) => u._id);
  const after = await coll.find({ _id: { $in: [...ids, ...upserted] } } as Document).toArray();
  const byId = new Map(after.map((d) => [BSON.EJSON.stringify({ id: d._id }), d]));
  for (const b of before) count(b, byId.get(BSON.EJSON.stringify({ id: b._id })) ?? null);
  for (const id of upserted) count(null, byId.get(BSON.EJSON.stringify({ id })) ?? null);
  return before.length + upserted.length;
}

/** A findAndModify, on the document the original reply names (its `_id`). */
async function replayFindAndModify(
  scratch: Db,
  w: CapturedWrite,
  count: Count,
  mismatch: (message: string) => void,
): Promise<number> {
  const coll = scratch.collection(w.collection);
  const reply = w.reply as Document;
  const { query, update, remove, arrayFilters } = w.command as Document;
  const value = reply.value as Document | null | undefined;
  const upsertedId = (reply.lastErrorObject as Document | undefined)?.upserted;
  const id = upsertedId ?? value?._id;
  // Nothing matched the first time: nothing to replay. (Something may match now: commands
  // in flight together, such as concurrent claims, can run on the server in another order than
  // they were sent, and the one that took the document is replayed by its `_id` anyway.)
  if (id === undefined) return 0;
  const before = upsertedId === undefined ? await coll.findOne({ _id: id }) : null;
  if (upsertedId === undefined) {
    const matches = await coll.countDocuments({ $and: [query as Document, { _id: id }] });
    if (!before || matches !== 1) mismatch('the original document does not match on replay');
    if (!before) return 0;
  }
  if (remove) {
    await coll.deleteOne({ _id: id });
    count(before, null);
    return 1;
  }
  const statement: Document = {
    q: before ? { _id: id } : { $and: [query as Document, { _id: id }] },
    u: update,
    upsert: !before,
  };
  if (arrayFilters) statement.arrayFilters = arrayFilters;
  await scratch.command({ update: w.collection, updates: [statement] });
  count(before, await coll.findOne({ _id: id }));
  return 1;
}
