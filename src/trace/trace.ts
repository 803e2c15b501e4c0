// The trace: what the app touched, as plain data, from any tracer.
// Paths are absolute byte strings as the app named them (symlinks unresolved).
import type { TracerName } from '../tracers/index.js';

export type Op = 'open' | 'exec' | 'write' | 'stat' | 'readdir' | 'readlink' | 'missing';

export interface Trace {
  tracer: TracerName;
  paths: Map<string, Set<Op>>;
  /** Programs executed, in order first seen. */
  executed: string[];
  /** The kernel dropped events: the trace is incomplete. */
  overflow: boolean;
  /** The app's exit status when the tracer saw it exit. */
  exitCode?: number;
}

export const emptyTrace = (tracer: TracerName): Trace => ({ tracer, paths: new Map(), executed: [], overflow: false });

/** Adds what `from` saw (a command probe's own record) to `into`. */
export function mergeTrace(into: Trace, from: Trace): Trace {
  for (const [path, ops] of from.paths) for (const op of ops) addOp(into, path, op);
  into.overflow ||= from.overflow;
  return into;
}

export function addOp(trace: Trace, path: string, op: Op): void {
  let ops = trace.paths.get(path);
  if (!ops) trace.paths.set(path, (ops = new Set()));
  ops.add(op);
  if (op === 'exec' && !trace.executed.includes(path)) trace.executed.push(path);
}

/** Whether two traces saw the same paths, each with the same operations, and ran the same programs. */
export function sameTrace(a: Trace, b: Trace): boolean {
  if (a.paths.size !== b.paths.size || a.executed.join('\0') !== b.executed.join('\0')) return false;
  for (const [path, ops] of a.paths) {
    const other = b.paths.get(path);
    if (!other || other.size !== ops.size || [...ops].some((op) => !other.has(op))) return false;
  }
  return true;
}

/** Plain JSON form, for the report. */
export function traceToJson(trace: Trace): object {
  return {
    format: 'slim-trace/1',
    tracer: trace.tracer,
    overflow: trace.overflow,
    exitCode: trace.exitCode,
    executed: trace.executed,
    paths: Object.fromEntries([...trace.paths].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, ops]) => [Buffer.from(p, 'latin1').toString('utf8'), [...ops].sort()])),
  };
}
