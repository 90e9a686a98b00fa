/**
 * Reading `explain('executionStats')` output the same way on MongoDB and on DocumentDB.
 *
 * The two engines share stage names (IXSCAN, FETCH, SORT, LIMIT, COLLSCAN...) but not where they
 * put the figures: MongoDB reports them per stage as `keysExamined`/`docsExamined` and totals at
 * the top, while DocumentDB reports `totalKeysExamined`/`totalDocsExamined` on every stage and
 * its top-level totals are those of the outermost stage (after a LIMIT they show the limit, not
 * what the scan read). So figures are read from the stages themselves: an index scan's keys, the
 * documents fetched, and the rows a SORT stage had to order in memory.
 */
import type { Db, Document } from 'mongodb';

/** The engine behind a server, as far as `explain` goes. */
export type ExplainEngine = 'mongodb' | 'documentdb' | 'none';

/** Which engine `db` runs on: `none` when it has no `explain` (mongo-java-server). */
export async function explainEngine(db: Db): Promise<ExplainEngine> {
  try {
    await db.command({ explain: { find: 'probe', filter: {} }, verbosity: 'queryPlanner' });
  } catch {
    return 'none';
  }
  const hello = await db.admin().command({ hello: 1 });
  // DocumentDB answers like a mongos and gives localTime as a number, never as a Date.
  return hello.msg === 'isdbgrid' && !(hello.localTime instanceof Date) ? 'documentdb' : 'mongodb';
}

/** One stage of an executed plan, as both engines shape it. */
interface Stage {
  stage?: string;
  indexName?: string;
  nReturned?: number;
  keysExamined?: number;
  docsExamined?: number;
  totalKeysExamined?: number;
  totalDocsExamined?: number;
  inputStage?: Stage;
  inputStages?: Stage[];
  /** MongoDB's SBE plans nest the classic tree under `queryPlan`; DocumentDB never does. */
  queryPlan?: Stage;
  /** Aggregations: one entry per pipeline stage, the first holding the `$cursor` plan. */
  shards?: Record<string, Stage>;
}

/** What a query cost, read from its executed plan. */
export interface PlanSummary {
  /** Names of the indexes scanned (empty when none was). */
  indexes: string[];
  /** True when some stage read the whole collection. */
  collScan: boolean;
  /** Index keys read by the index scans (summed over the branches of an $or). */
  keysExamined: number;
  /** Documents fetched from the collection. */
  docsExamined: number;
  /** Rows the plan had to sort in memory (0 when an index gave the order). */
  sortedInMemory: number;
  /** Documents the query returned. */
  returned: number;
  /** Stage names, outermost first, for messages. */
  shape: string;
}

const SCAN_STAGES = new Set(['IXSCAN', 'COUNT_SCAN', 'DISTINCT_SCAN', 'EXPRESS_IXSCAN']);
/** Single-document lookups by `_id` (MongoDB's fast paths): an index scan by another name. */
const ID_STAGES = new Set(['IDHACK', 'EXPRESS_IXSCAN', 'CLUSTERED_IXSCAN']);

function children(s: Stage): Stage[] {
  const out: Stage[] = [];
  if (s.inputStage) out.push(s.inputStage);
  if (s.inputStages) out.push(...s.inputStages);
  if (s.queryPlan) out.push(s.queryPlan);
  return out;
}

function walk(s: Stage, visit: (s: Stage, depth: number) => void, depth = 0): void {
  visit(s, depth);
  for (const c of children(s)) walk(c, visit, depth + 1);
}

function keysOf(s: Stage): number {
  return s.keysExamined ?? s.totalKeysExamined ?? 0;
}

function docsOf(s: Stage): number {
  return s.docsExamined ?? s.totalDocsExamined ?? 0;
}

/** The execution tree of an explain result: find/count/distinct, update, or aggregate. */
function executionRoot(plan: Document): Stage {
  const stats = plan.executionStats as (Stage & { executionStages?: Stage }) | undefined;
  if (stats?.executionStages) return stats.executionStages;
  // Aggregations: MongoDB puts the find part under stages[0].$cursor; DocumentDB answers with
  // the find shape directly (handled above).
  const stages = plan.stages as Document[] | undefined;
  const cursor = stages?.[0]?.$cursor as Document | undefined;
  if (cursor) return executionRoot(cursor);
  throw new Error(`no execution stats in explain output: ${JSON.stringify(plan).slice(0, 400)}`);
}

/** Reads an `explain('executionStats')` result (see the module comment). */
export function summarizePlan(plan: Document): PlanSummary {
  const root = executionRoot(plan);
  const indexes = new Set<string>();
  let collScan = false;
  let keysExamined = 0;
  let docsExamined = 0;
  let sortedInMemory = 0;
  const shape: string[] = [];
  walk(root, (s) => {
    const name = s.stage ?? '?';
    shape.push(s.indexName ? `${name}(${s.indexName})` : name);
    if (name === 'COLLSCAN') collScan = true;
    if (SCAN_STAGES.has(name) || ID_STAGES.has(name)) {
      indexes.add(s.indexName ?? '_id_');
      keysExamined += keysOf(s);
    }
    // A FETCH (or an _id fast path) reads documents; so does a COLLSCAN.
    if (name === 'FETCH' || name === 'COLLSCAN' || ID_STAGES.has(name)) {
      docsExamined = Math.max(docsExamined, docsOf(s));
    }
    if (name === 'SORT') {
      const input = children(s)[0];
      sortedInMemory = Math.max(sortedInMemory, input?.nReturned ?? 0);
    }
  });
  return {
    indexes: [...indexes],
    collScan,
    keysExamined,
    docsExamined,
    sortedInMemory,
    returned: root.nReturned ?? 0,
    shape: shape.join(' <- '),
  };
}
