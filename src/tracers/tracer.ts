// What a tracer is: how it starts inside the probe container, what it needs
// there, and how its output becomes a Trace. Each tracer is one file and one
// entry in the TRACERS table (index.ts); nothing else names a tracer.
import type { Trace } from '../trace/trace.js';

/** Where the probe tree lives inside the container, and its parts. */
export const PROBE_DIR = '/.slim';
/** The trace output: beside the probe tree, which is mounted read-only so nothing in the container can swap the tracer. */
export const OUT_DIR = `${PROBE_DIR}-out`;
export const SLIM_PROBE = `${PROBE_DIR}/slim-probe`;
/** Created by slim-probe just before the app starts: from then on an exit is the app's, not a refusal. */
export const STARTED_MARK = `${OUT_DIR}/started`;

/** How the app is started: as which user, with which capability taken away. */
export interface AppLaunch {
  /** The run's USER (image's or --user); empty for root. */
  user: string;
  /** The environment has no HOME: slim-probe sets the user's from /etc/passwd, as docker does. */
  setHome: boolean;
}

export interface Tracer {
  /** The one capability the probe container gets added for this tracer. */
  capability: string;
  /** A directory of probes/bin copied to /.slim/<bundle>/ next to slim-probe. */
  bundle?: string;
  /** Why the bundle is missing and how to get it. */
  bundleHint?: string;
  /** Sees failed lookups and stat-only accesses (what tuning needs). */
  seesMissing: boolean;
  /** Entrypoint of the probe container: the tracer around the app's command. */
  entrypoint(command: string[], app: AppLaunch): string[];
  /** A command probe run with docker exec (as root) so that this tracer sees it; `id` names its own output. */
  execCommand(command: string[], app: AppLaunch, id: string): string[];
  /** Reads the files the tracer left in OUT_DIR (by name) into one trace. */
  parse(files: Map<string, Buffer>, where: string, workdir: string): Trace;
  /** What to do when the engine refuses the capability. */
  refusedHint: string;
}

/**
 * slim-probe's arguments that start the app: the tracer's capability dropped,
 * the run's USER, then `--`. `extra` goes first (--fanotify, --exec, --started).
 */
export function launchApp(app: AppLaunch, capability: string, extra: string[]): string[] {
  return [SLIM_PROBE, ...extra, '--drop', capability, ...(app.user ? ['--user', app.user, ...(app.setHome ? ['--set-home'] : [])] : []), '--'];
}
