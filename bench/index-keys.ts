/**
 * Index keys a write makes the server write, computed from the index definitions (as
 * `listIndexes` returns them) and the document before and after the write, with MongoDB's rules:
 *
 * - a document belongs to an index unless a `partialFilterExpression` excludes it, or the index
 *   is `sparse` and the document has none of its fields;
 * - its keys there are the product of the values of the key fields: a missing field gives one
 *   `null` key, an array gives one key per distinct element (multikey), and an EMPTY array still
 *   gives one key (`undefined`); a path through an array of subdocuments takes each element's
 *   value;
 * - an insert writes every key of every index the document belongs to; a delete removes them;
 *   an update removes the keys the document no longer has and adds the ones it now has, index by
 *   index, so an index whose keys are unchanged costs nothing and a changed single-key index
 *   costs 2 (one removal, one insertion).
 *
 * `documentDbEntries` models DocumentDB instead: it keeps documents in PostgreSQL rows whose one
 * BSON column every index is built on, so any change of a document is a non-HOT update that adds
 * a new entry to EVERY index the new version belongs to, changed or not (old entries go at vacuum).
 * Checked on this machine: 10,000 updates of a field no index holds grew both indexes of the
 * collection (see bench/README.md).
 */
import type { Document } from 'mongodb';

/** One index as `listIndexes` describes it (the fields used here). */
export interface IndexSpec {
  name: string;
  key: Record<string, unknown>;
  partialFilterExpression?: Document;
  sparse?: boolean;
}

/** A field that is not there (distinct from `null` for `$exists` and sparse indexes). */
const MISSING: unique symbol = Symbol('missing');
/** The key of an empty array in a multikey index (MongoDB stores `undefined`). */
const EMPTY_ARRAY: unique symbol = Symbol('empty array');
type Value = unknown;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Date) return false;
  return !('_bsontype' in v);
}

/** A canonical text of a BSON value: equal keys give equal texts (1, 1.0 and Long(1) alike). */
export function keyText(v: Value): string {
  if (v === MISSING || v === null || v === undefined) return 'null';
  if (v === EMPTY_ARRAY) return 'undefined';
  if (typeof v === 'number') return `n:${v}`;
  if (typeof v === 'bigint') return `n:${v.toString()}`;
  if (typeof v === 'string') return `s:${JSON.stringify(v)}`;
  if (typeof v === 'boolean') return `b:${v}`;
  if (v instanceof Date) return `d:${v.getTime()}`;
  if (Array.isArray(v)) return `[${v.map(keyText).join(',')}]`;
  if (typeof v === 'object' && '_bsontype' in v) {
    const b = v as { _bsontype: string; toString(): string; toHexString?(): string };
    switch (b._bsontype) {
      case 'Int32':
      case 'Double':
      case 'Long':
      case 'Decimal128':
        return `n:${Number(b.toString())}`;
      case 'ObjectId':
        return `o:${b.toHexString?.() ?? b.toString()}`;
      default:
        return `${b._bsontype}:${JSON.stringify(v)}`;
    }
  }
  if (isPlainObject(v)) {
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}:${keyText(x)}`)
      .join(',')}}`;
  }
  return `?:${String(v)}`;
}

/**
 * Values of a dotted path as an index sees them: arrays met on the way are walked element by
 * element, a terminal array gives its elements (or EMPTY_ARRAY), a missing field gives MISSING.
 */
function indexValues(value: Value, parts: string[]): Value[] {
  if (parts.length === 0) {
    if (Array.isArray(value)) return value.length === 0 ? [EMPTY_ARRAY] : value;
    return [value === undefined ? MISSING : value];
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return [MISSING];
    return value.flatMap((el) => (isPlainObject(el) ? indexValues(el, parts) : [MISSING]));
  }
  if (!isPlainObject(value)) return [MISSING];
  const next = value[parts[0]];
  return indexValues(next === undefined ? MISSING : next, parts.slice(1));
}

/**
 * Values of a dotted path as a query sees them: like `indexValues`, but a terminal array also
 * matches as a whole (`{ a: [] }` matches `a: []`).
 */
function queryValues(doc: Value, path: string): Value[] {
  const parts = path.split('.');
  const walk = (value: Value, i: number): Value[] => {
    if (i === parts.length) return Array.isArray(value) ? [value, ...value] : [value];
    if (Array.isArray(value)) {
      return value.flatMap((el) => (isPlainObject(el) ? walk(el, i) : [MISSING]));
    }
    if (!isPlainObject(value)) return [MISSING];
    const next = value[parts[i]];
    return walk(next === undefined ? MISSING : next, i + 1);
  };
  return walk(doc, 0);
}

/** The order class of a value for $gt/$lt (only values of one class compare). */
function orderClass(v: Value): string | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return 'number';
  if (typeof v === 'object' && v !== null && '_bsontype' in v) {
    const t = (v as { _bsontype: string })._bsontype;
    if (['Int32', 'Double', 'Long', 'Decimal128'].includes(t)) return 'number';
    return t;
  }
  if (typeof v === 'string') return 'string';
  if (v instanceof Date) return 'date';
  if (typeof v === 'boolean') return 'boolean';
  return undefined;
}

function orderValue(v: Value): number | string {
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'boolean') return v ? 1 : 0;
  return Number(String(v));
}

const TYPE_ALIASES: Record<string, (v: Value) => boolean> = {
  double: (v) => typeof v === 'number' || orderClass(v) === 'Double',
  string: (v) => typeof v === 'string',
  object: (v) => isPlainObject(v),
  array: (v) => Array.isArray(v),
  objectId: (v) => orderClass(v) === 'ObjectId',
  bool: (v) => typeof v === 'boolean',
  date: (v) => v instanceof Date,
  null: (v) => v === null,
  int: (v) => (typeof v === 'number' && Number.isInteger(v)) || orderClass(v) === 'Int32',
  long: (v) => orderClass(v) === 'Long' || typeof v === 'bigint',
  decimal: (v) => orderClass(v) === 'Decimal128',
  number: (v) => orderClass(v) === 'number',
};
const TYPE_NUMBERS: Record<number, string> = {
  1: 'double',
  2: 'string',
  3: 'object',
  4: 'array',
  7: 'objectId',
  8: 'bool',
  9: 'date',
  10: 'null',
  16: 'int',
  18: 'long',
  19: 'decimal',
};

function hasType(v: Value, spec: unknown): boolean {
  const specs = Array.isArray(spec) ? spec : [spec];
  return specs.some((s) => {
    const name = typeof s === 'number' ? TYPE_NUMBERS[s] : String(s);
    const test = name === undefined ? undefined : TYPE_ALIASES[name];
    if (!test) throw new Error(`index keys: $type ${String(s)} is not supported`);
    return v !== MISSING && test(v);
  });
}

function compare(candidates: Value[], op: string, bound: Value): boolean {
  const cls = orderClass(bound);
  const b = orderValue(bound);
  return candidates.some((c) => {
    if (cls === undefined || orderClass(c) !== cls) return false;
    const x = orderValue(c);
    if (op === '$gt') return x > b;
    if (op === '$gte') return x >= b;
    if (op === '$lt') return x < b;
    return x <= b;
  });
}

function equals(candidates: Value[], want: Value): boolean {
  // `{ f: null }` also matches a missing field.
  if (want === null) return candidates.some((c) => c === MISSING || c === null);
  const text = keyText(want);
  return candidates.some((c) => c !== MISSING && keyText(c) === text);
}

function matchField(doc: Document, path: string, cond: unknown): boolean {
  const candidates = queryValues(doc, path);
  const operators = isPlainObject(cond) && Object.keys(cond).some((k) => k.startsWith('$'));
  if (!operators) return equals(candidates, cond);
  return Object.entries(cond as Record<string, unknown>).every(([op, arg]) => {
    switch (op) {
      case '$eq':
        return equals(candidates, arg);
      case '$exists':
        return candidates.some((c) => c !== MISSING) === Boolean(arg);
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        return compare(candidates, op, arg);
      case '$type':
        return candidates.some((c) => hasType(c, arg));
      case '$in':
        return (arg as unknown[]).some((a) => equals(candidates, a));
      default:
        // MongoDB allows only the operators above in a partial filter.
        throw new Error(`index keys: ${op} is not supported in a partial filter`);
    }
  });
}

/** Whether `doc` matches a partial filter expression (the subset MongoDB allows there). */
export function matchesPartialFilter(doc: Document, filter: Document): boolean {
  return Object.entries(filter).every(([key, cond]) => {
    if (key === '$and') return (cond as Document[]).every((f) => matchesPartialFilter(doc, f));
    if (key === '$or') return (cond as Document[]).some((f) => matchesPartialFilter(doc, f));
    if (key.startsWith('$')) throw new Error(`index keys: ${key} is not supported`);
    return matchField(doc, key, cond);
  });
}

/** The keys `doc` has in `index`, as canonical texts; empty when it does not belong to it. */
export function indexKeys(index: IndexSpec, doc: Document | null | undefined): Set<string> {
  const keys = new Set<string>();
  if (!doc) return keys;
  if (index.partialFilterExpression && !matchesPartialFilter(doc, index.partialFilterExpression)) {
    return keys;
  }
  const fields = Object.keys(index.key).map((path) => indexValues(doc, path.split('.')));
  if (index.sparse && fields.every((values) => values.every((v) => v === MISSING))) return keys;
  // The product of the fields' values (MongoDB allows one array per compound key).
  let combos: string[] = [''];
  for (const values of fields) {
    const texts = [...new Set(values.map(keyText))];
    combos = combos.flatMap((prefix) => texts.map((t) => (prefix ? `${prefix}|${t}` : t)));
  }
  for (const c of combos) keys.add(c);
  return keys;
}

/** Keys one write of one document makes the server write, in all and per index. */
export interface KeysWritten {
  total: number;
  byIndex: Record<string, number>;
}

/**
 * Index keys written when a document goes from `before` to `after` (`null` before: an insert;
 * `null` after: a delete): per index, the keys removed plus the keys added.
 */
export function keysWritten(
  indexes: IndexSpec[],
  before: Document | null,
  after: Document | null,
): KeysWritten {
  const out: KeysWritten = { total: 0, byIndex: {} };
  for (const index of indexes) {
    const was = indexKeys(index, before);
    const now = indexKeys(index, after);
    let n = 0;
    for (const k of was) if (!now.has(k)) n += 1;
    for (const k of now) if (!was.has(k)) n += 1;
    out.byIndex[index.name] = n;
    out.total += n;
  }
  return out;
}

/**
 * Index entries DocumentDB adds for the same write (see the file comment): every key of every
 * index the new version belongs to, when the document changed at all; none for a delete.
 */
export function documentDbEntries(
  indexes: IndexSpec[],
  before: Document | null,
  after: Document | null,
): number {
  if (!after || (before && keyText(before) === keyText(after))) return 0;
  return indexes.reduce((sum, index) => sum + indexKeys(index, after).size, 0);
}
