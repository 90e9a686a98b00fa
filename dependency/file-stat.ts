/**
 * Modification times of local files, for the file-based managers. Only "does not exist" is a
 * dependency answer; any other file-system error is reported as such so the manager can wait
 * (a full file table or a flaky mount should not fail a job for good).
 */
import { stat } from 'node:fs/promises';

/** What a stat of one path found. */
export type FileStat =
  | { kind: 'present'; path: string; mtimeNs: bigint }
  | { kind: 'missing'; path: string }
  | { kind: 'error'; path: string; message: string };

/** Stats a path; nanosecond mtimes, so two writes within one millisecond still compare. */
export async function statFile(path: string): Promise<FileStat> {
  try {
    const s = await stat(path, { bigint: true });
    return { kind: 'present', path, mtimeNs: s.mtimeNs };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent of the path is a file, so the path cannot exist either.
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing', path };
    return { kind: 'error', path, message: err instanceof Error ? err.message : String(err) };
  }
}
