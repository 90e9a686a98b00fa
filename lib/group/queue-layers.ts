/**
 * Options of a queue group and how they resolve the options of each named queue: group defaults,
 * then every name pattern that matches (in order), then the queue's own entry, then the options
 * given to `get`. Pure functions only; the group applies them.
 */
import { InvalidArgumentError, QueueOptionsConflictError } from '../errors';
import {
  resolveQueueOptions,
  type QueueOptions,
  type ResolvedQueueOptions,
} from '../queue/queue-options';
import type { RecordedOptions } from '../store/queue-store';
import { checkNumber, checkQueueName, describe } from '../validate';

/** A queue name pattern: a glob (`*` any run of characters, `?` one) or a RegExp. */
export type QueueNameMatch = string | RegExp;

/** Options for the queues whose names match. */
export interface QueuePattern {
  match: QueueNameMatch;
  options: QueueOptions;
}

/** The option layers of a group, lowest precedence first. */
export interface QueueOptionLayers {
  /** Defaults of every queue. */
  defaults?: QueueOptions;
  /** Options by name pattern; every matching pattern applies, later ones over earlier ones. */
  patterns?: QueuePattern[];
  /** Options of individual queues, by exact name. */
  queues?: Record<string, QueueOptions>;
}

/** A queue idle this long is pruned by `QueueGroup.prune()`. */
export const PRUNE_IDLE_MS_DEFAULT = 5 * 60_000;
/** How often a group with `autoStart` looks for queues created by other processes. */
export const DISCOVER_EVERY_MS_DEFAULT = 5_000;
export const DISCOVER_EVERY_MS_MIN = 10;
/** `lastActive` of a queue record is written at most this often per queue and process. */
export const TOUCH_EVERY_MS_DEFAULT = 10_000;

/** Group settings of pruning and discovery. */
export interface QueueUpkeepOptions {
  /** A queue with no waiting or running jobs and no local activity for this long is pruned. */
  pruneIdleMs?: number;
  /** Prune automatically this often; 0 (the default) prunes only when `prune()` is called. */
  pruneEveryMs?: number;
  /**
   * Start the runner pools of queues: `true` for every queue, or the names matching any of these
   * patterns. Matching queues are started when opened here and when discovered in the queues
   * collection (created by another process) while they have waiting work or were active within
   * `pruneIdleMs`.
   */
  autoStart?: boolean | QueueNameMatch[];
  /** How often `autoStart` looks for queues of other processes. */
  discoverEveryMs?: number;
  /** How often each queue's `lastActive` is written at most. */
  touchEveryMs?: number;
}

/** Upkeep settings with every field resolved. */
export interface ResolvedQueueUpkeep {
  pruneIdleMs: number;
  pruneEveryMs: number;
  /** Null when nothing is started automatically. */
  autoStart: ((name: string) => boolean) | null;
  discoverEveryMs: number;
  touchEveryMs: number;
}

const DAY_MS = 24 * 3600_000;

/** A predicate for a glob or RegExp. Throws InvalidArgumentError for anything else. */
export function queueNameMatcher(match: QueueNameMatch): (name: string) => boolean {
  if (match instanceof RegExp) {
    // A copy without the stateful flags, so `test` gives the same answer every time.
    const re = new RegExp(match.source, match.flags.replace(/[gy]/g, ''));
    return (name) => re.test(name);
  }
  if (typeof match !== 'string' || match.length === 0) {
    throw new InvalidArgumentError(
      `a queue name pattern must be a glob string or a RegExp, got ${describe(match)}`,
    );
  }
  const source = match
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${source}$`);
  return (name) => re.test(name);
}

/**
 * The options of queue `name` before resolution: defaults < matching patterns (in order) < the
 * queue's entry < `call`. Each layer replaces whole fields (an `excludeTypes` list included).
 */
export function mergeQueueOptions(
  layers: QueueOptionLayers,
  name: string,
  call: QueueOptions = {},
): QueueOptions {
  const matching = (layers.patterns ?? [])
    .filter((p) => queueNameMatcher(p.match)(name))
    .map((p) => p.options);
  const own = layers.queues && Object.hasOwn(layers.queues, name) ? layers.queues[name] : {};
  return Object.assign({}, layers.defaults, ...matching, own, call);
}

/**
 * Checks the layers once, at group construction: every pattern is a glob or RegExp, every name in
 * `queues` is valid, and the options each layer yields over the defaults resolve.
 */
export function checkQueueOptionLayers(layers: QueueOptionLayers): void {
  resolveQueueOptions(layers.defaults);
  for (const p of layers.patterns ?? []) {
    queueNameMatcher(p.match);
    resolveQueueOptions(layers.defaults, p.options);
  }
  for (const name of Object.keys(layers.queues ?? {})) {
    checkQueueName(name);
    resolveQueueOptions(mergeQueueOptions(layers, name));
  }
}

/** Copies and validates the upkeep settings. */
export function resolveQueueUpkeep(o: QueueUpkeepOptions = {}): ResolvedQueueUpkeep {
  const pruneIdleMs = checkNumber(
    'pruneIdleMs',
    o.pruneIdleMs ?? PRUNE_IDLE_MS_DEFAULT,
    0,
    365 * DAY_MS,
  );
  const pruneEveryMs = checkNumber('pruneEveryMs', o.pruneEveryMs ?? 0, 0, DAY_MS);
  if (pruneEveryMs > 0 && pruneEveryMs < 10) {
    throw new InvalidArgumentError(
      `pruneEveryMs must be 0 (off) or at least 10, got ${pruneEveryMs}`,
    );
  }
  let autoStart: ResolvedQueueUpkeep['autoStart'] = null;
  if (o.autoStart === true) autoStart = () => true;
  else if (Array.isArray(o.autoStart)) {
    const matchers = o.autoStart.map(queueNameMatcher);
    autoStart = (name) => matchers.some((m) => m(name));
  } else if (o.autoStart !== undefined && o.autoStart !== false) {
    throw new InvalidArgumentError(
      `autoStart must be a boolean or a list of patterns, got ${describe(o.autoStart)}`,
    );
  }
  return {
    pruneIdleMs,
    pruneEveryMs,
    autoStart,
    discoverEveryMs: checkNumber(
      'discoverEveryMs',
      o.discoverEveryMs ?? DISCOVER_EVERY_MS_DEFAULT,
      DISCOVER_EVERY_MS_MIN,
      DAY_MS,
    ),
    touchEveryMs: checkNumber('touchEveryMs', o.touchEveryMs ?? TOUCH_EVERY_MS_DEFAULT, 0, DAY_MS),
  };
}

/**
 * The part of queue options that can be stored: primitives and arrays of primitives under plain
 * option names. Functions and instances (registry, logger, clock) are left out.
 */
export function recordableOptions(options: object): RecordedOptions {
  const out: RecordedOptions = {};
  const primitive = (v: unknown): v is string | number | boolean | null =>
    v === null ||
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    (typeof v === 'number' && Number.isFinite(v));
  for (const [key, value] of Object.entries(options)) {
    if (key.startsWith('$') || key.includes('.') || key.includes('\u0000')) continue;
    if (primitive(value)) out[key] = value;
    else if (Array.isArray(value) && value.every(primitive)) out[key] = [...value];
  }
  return out;
}

/** True when two resolved option values are the same setting. */
function sameSetting(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'function' && typeof b === 'function') {
    // Built-in backoff policies made twice are different functions with one stored spec.
    const sa = (a as { spec?: unknown }).spec;
    const sb = (b as { spec?: unknown }).spec;
    return sa !== undefined && JSON.stringify(sa) === JSON.stringify(sb);
  }
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) {
    const plain = (v: object) => Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype;
    return plain(a) && plain(b) && JSON.stringify(a) === JSON.stringify(b);
  }
  return false;
}

function settingText(v: unknown): string {
  if (typeof v === 'function') {
    const spec = (v as { spec?: unknown }).spec;
    return spec === undefined ? 'a function' : describe(spec);
  }
  return describe(v);
}

/**
 * The error for `group.get(name, asked)` when queue `name` is open here with `open` options and
 * `asked` sets one of them to another value (validated first); undefined when they agree.
 */
export function optionsConflict(
  name: string,
  open: ResolvedQueueOptions,
  asked: QueueOptions,
): QueueOptionsConflictError | undefined {
  const keys = (Object.keys(asked) as (keyof QueueOptions)[]).filter((k) => asked[k] !== undefined);
  if (keys.length === 0) return undefined;
  const resolved = resolveQueueOptions(
    { ...open, retryBackoff: open.retryBackoff ?? undefined, tracing: open.tracing.enabled },
    asked,
  );
  // Resolved tracing is a JobTracing object per queue: compare what was asked of it.
  const setting = (o: ResolvedQueueOptions, key: keyof QueueOptions): unknown =>
    key === 'tracing' ? o.tracing.enabled : o[key as keyof ResolvedQueueOptions];
  for (const key of keys) {
    const was = setting(open, key);
    const now = setting(resolved, key);
    if (!sameSetting(was, now)) {
      return new QueueOptionsConflictError(name, key, settingText(was), settingText(now));
    }
  }
  return undefined;
}
