/**
 * `drover/testing`: run a queue group's jobs in-process and deterministically in tests, under a
 * clock the test moves (lib/testing/test-harness.ts).
 */
export { TestClock } from './test-clock';
export {
  TestHarness,
  TEST_MAX_RUNS_DEFAULT,
  type TestHarnessOptions,
  type RunRecord,
  type RunOutcome,
} from './test-harness';
