/**
 * Cycle detection among stored jobs, run by the queue on put. A cycle would hold every job in
 * it blocked forever, so it is rejected up front (DependencyCycleError with the returned path).
 */
import { InvalidArgumentError } from '../lib/errors';

/** Options of {@link findCycle}. */
export interface FindCycleOptions {
  /** Most jobs the search may visit before refusing. Default 10,000. */
  maxNodes?: number;
  /** Most `edgesOf` calls in flight at once. Default 32. */
  concurrency?: number;
}

/** Default bound on the jobs one cycle check visits. */
export const DEFAULT_CYCLE_MAX_NODES = 10_000;

/**
 * Looks for a dependency cycle reachable from `start` (normally the job being put, whose
 * edges `edgesOf(start)` returns before it is stored).
 *
 * Works in two phases: the reachable graph is fetched breadth first, a whole level of
 * `edgesOf` calls at once (round trips grow with depth, not with the number of jobs), then an
 * iterative depth-first search finds a cycle in memory, with no recursion to overflow.
 *
 * @param edgesOf edges of a job; `[]` for a job that does not exist.
 * @returns the cycle as a path that starts and ends at the same job (`['a', 'b', 'a']`;
 *   `['a', 'a']` for a self-edge), or `null` when there is none. A cycle through `start` is
 *   reported starting at `start`; a cycle elsewhere in the reachable graph is reported too,
 *   since a job depending on it could never run either.
 * @throws InvalidArgumentError when more than `maxNodes` jobs are reachable.
 */
export async function findCycle(
  start: string,
  edgesOf: (id: string) => Promise<string[]>,
  options: FindCycleOptions = {},
): Promise<string[] | null> {
  const graph = await fetchGraph(start, edgesOf, options);
  return searchCycle(start, graph);
}

async function fetchGraph(
  start: string,
  edgesOf: (id: string) => Promise<string[]>,
  options: FindCycleOptions,
): Promise<Map<string, string[]>> {
  const maxNodes = options.maxNodes ?? DEFAULT_CYCLE_MAX_NODES;
  const concurrency = Math.max(1, options.concurrency ?? 32);
  const graph = new Map<string, string[]>();
  const seen = new Set<string>([start]);
  let level = [start];
  while (level.length > 0) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += concurrency) {
      const batch = level.slice(i, i + concurrency);
      const results = await Promise.all(batch.map((id) => edgesOf(id)));
      batch.forEach((id, j) => {
        const edges = results[j] ?? [];
        graph.set(id, edges);
        for (const edge of edges) {
          if (seen.has(edge)) continue;
          seen.add(edge);
          if (seen.size > maxNodes) {
            throw new InvalidArgumentError(
              `job ${start}: more than ${maxNodes} jobs are reachable through its dependencies; cycle check refused`,
              { jobId: start },
            );
          }
          next.push(edge);
        }
      });
    }
    level = next;
  }
  return graph;
}

/** Iterative three-colour DFS; returns the first cycle met, as a closed path. */
function searchCycle(
  start: string,
  graph: ReadonlyMap<string, readonly string[]>,
): string[] | null {
  const done = new Set<string>();
  // The current DFS path, with the index of the next edge to follow from each node on it.
  const path: string[] = [start];
  const nextEdge: number[] = [0];
  const onPath = new Map<string, number>([[start, 0]]);
  while (path.length > 0) {
    const top = path.length - 1;
    const node = path[top] as string;
    const edges = graph.get(node) ?? [];
    const i = nextEdge[top] as number;
    if (i >= edges.length) {
      path.pop();
      nextEdge.pop();
      onPath.delete(node);
      done.add(node);
      continue;
    }
    nextEdge[top] = i + 1;
    const child = edges[i] as string;
    const at = onPath.get(child);
    if (at !== undefined) return [...path.slice(at), child];
    if (done.has(child)) continue;
    onPath.set(child, path.length);
    path.push(child);
    nextEdge.push(0);
  }
  return null;
}
