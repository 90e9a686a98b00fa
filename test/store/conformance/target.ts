/**
 * What a conformance suite runs against: fresh, empty stores of one backend for every test, and
 * the few things only a backend can do (write a document the store would refuse). Each suite in
 * this folder is a function of a `StoreTarget`; test/store/conformance.test.ts runs every suite on
 * every backend, as River runs riverdrivertest on every driver.
 */
import type { Stores } from '../../../lib/store/store-set';

export interface StoreTarget {
  /** The backend's name, for messages. */
  readonly name: string;
  /** The stores of the current test (fresh and empty at its start). */
  stores(): Stores;
  /** Writes a job document as is, bypassing the store (a hand edit or another tool's write). */
  rawPutJob(doc: object): Promise<void>;
  /** Whether `jobOnInsert` calls its listener during `jobInsert` (memory; MongoDB is async). */
  readonly insertEventsInline: boolean;
}

/** A conformance suite: registers its `describe`/`it` blocks for one target. */
export type ConformanceSuite = (target: StoreTarget) => void;
