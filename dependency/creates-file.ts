/**
 * For a job whose work is to create a file: once the file exists the work is done, so the job
 * is `passed` (completed without running). Edges are honoured first.
 *
 * Paths are resolved on the worker that evaluates the dependency (relative paths against its
 * working directory), so this suits files on storage every worker sees alike.
 */
import type { DependencyDecision } from './manager';
import { EdgeDependency, type EdgeOptions } from './base';
import { statFile } from './file-stat';
import { checkPath } from './validate';

/** Options of a {@link CreatesFileDependency}. */
export type CreatesFileOptions = EdgeOptions;

/** Passed when `path` exists, else ready. */
export class CreatesFileDependency extends EdgeDependency {
  /** Stored type name. */
  static readonly TYPE = 'creates-file';
  readonly type = CreatesFileDependency.TYPE;
  /** The file the job will create. */
  readonly path: string;

  constructor(path: string, options: CreatesFileOptions = {}) {
    super(options);
    this.path = checkPath(path, 'createsFile');
  }

  protected async ownState(): Promise<DependencyDecision> {
    const found = await statFile(this.path);
    switch (found.kind) {
      case 'present':
        return { state: 'passed', reason: `${this.path} already exists` };
      case 'missing':
        return { state: 'ready', reason: `${this.path} does not exist yet` };
      case 'error':
        return { state: 'blocked', reason: `cannot check ${this.path}: ${found.message}` };
    }
  }

  protected storedOptions(): Record<string, unknown> {
    return { path: this.path };
  }
}
