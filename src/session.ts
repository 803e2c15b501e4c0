// Everything a run creates that must not outlive it (containers, spool
// directories) is tracked here, so that errors and Ctrl-C clean up the same way.
import { hostname } from 'node:os';
import { HOST_LABEL, PID_LABEL, SESSION_LABEL, type Engine } from './engine.js';
import { SlimError } from './errors.js';

export class Cleanup {
  private readonly items = new Set<AsyncDisposable>();
  /** Disposals under way that nobody waits for but the teardown. */
  private readonly releasing = new Set<Promise<Error | undefined>>();
  private readonly controller = new AbortController();
  /** The teardown under way, if any: the next one starts after it. */
  private running: Promise<Error[]> = Promise.resolve([]);

  /** Aborted when the run is being torn down (Ctrl-C): long operations stop, no output is written. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Tracks `item`; once teardown has begun, what arrives late (a container still being created) goes at once. */
  add<T extends AsyncDisposable>(item: T): T {
    this.items.add(item);
    if (this.controller.signal.aborted) void this.run();
    return item;
  }

  delete(item: AsyncDisposable): void {
    this.items.delete(item);
  }

  /**
   * Disposes `item` now without waiting for it: a container's removal takes 50-250 ms of the
   * engine's time, which the next stage need not spend. The teardown waits for it.
   */
  release(item: AsyncDisposable): void {
    this.items.delete(item);
    const done = Promise.resolve().then(() => item[Symbol.asyncDispose]()).then(() => undefined, (err: Error) => err);
    this.releasing.add(done);
    void done.then(() => this.releasing.delete(done));
  }

  /**
   * Aborts the signal, then disposes everything still tracked, newest first;
   * keeps going past failures. A second call (Ctrl-C while an error unwinds)
   * waits for the first to finish, so nobody leaves while a removal is in flight.
   */
  run(reason?: string): Promise<Error[]> {
    if (reason) this.controller.abort(new SlimError(reason, { kind: 'interrupted' }));
    const previous = this.running;
    this.running = previous.then(() => this.disposeAll());
    return this.running;
  }

  private async disposeAll(): Promise<Error[]> {
    const errors: Error[] = [];
    for (const failed of await Promise.all(this.releasing)) if (failed) errors.push(failed);
    for (const item of [...this.items].reverse()) {
      this.items.delete(item);
      try {
        await item[Symbol.asyncDispose]();
      } catch (err) {
        errors.push(err as Error);
      }
    }
    return errors;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether what a run labelled may go: not this session's, and its run is gone (or `all`). */
function reapable(engine: Engine, labels: Record<string, string>, all: boolean): boolean {
  if (labels[SESSION_LABEL] === engine.session) return false;
  const dead = labels[HOST_LABEL] === hostname() && !processAlive(Number(labels[PID_LABEL]));
  return all || dead;
}

/**
 * Removes containers, images made on the way to a slim image (a layer's import)
 * and the names that held slim images written ahead, left by runs of this tool
 * that are gone (killed with SIGKILL, machine crash). With `all`, removes every
 * one the tool made except the current session's.
 */
export async function reapLeftovers(engine: Engine, opts: { all?: boolean } = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const c of await engine.listToolContainers()) {
    if (!reapable(engine, c.labels, opts.all ?? false)) continue;
    await engine.removeContainer(c.id);
    removed.push(c.name);
  }
  for (const image of await engine.listToolImages()) {
    if (!reapable(engine, image.labels, opts.all ?? false)) continue;
    await engine.removeImage(image.ref);
    removed.push(`image ${image.ref.startsWith('sha256:') ? image.ref.slice(7, 19) : image.ref}`);
  }
  return removed;
}
