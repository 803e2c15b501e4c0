// The trace: what the app touched, as plain data, from either probe.
// Paths are absolute byte strings as the app named them (symlinks unresolved).
import { SlimError } from '../errors.js';
import { joinPath } from '../paths.js';

export type Op = 'open' | 'exec' | 'write' | 'stat' | 'readdir' | 'readlink' | 'missing';
export type ProbeKind = 'fanotify' | 'strace';

export interface Trace {
  probe: ProbeKind;
  paths: Map<string, Set<Op>>;
  /** Programs executed, in order first seen. */
  executed: string[];
  /** The kernel dropped events: the trace is incomplete. */
  overflow: boolean;
  /** The app's exit status when the probe saw it exit. */
  exitCode?: number;
}

export const emptyTrace = (probe: ProbeKind): Trace => ({ probe, paths: new Map(), executed: [], overflow: false });

export function addOp(trace: Trace, path: string, op: Op): void {
  let ops = trace.paths.get(path);
  if (!ops) trace.paths.set(path, (ops = new Set()));
  ops.add(op);
  if (op === 'exec' && !trace.executed.includes(path)) trace.executed.push(path);
}

/** Plain JSON form, for the report. */
export function traceToJson(trace: Trace): object {
  return {
    format: 'slim-trace/1',
    probe: trace.probe,
    overflow: trace.overflow,
    exitCode: trace.exitCode,
    executed: trace.executed,
    paths: Object.fromEntries([...trace.paths].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, ops]) => [Buffer.from(p, 'latin1').toString('utf8'), [...ops].sort()])),
  };
}

function normalise(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

const FANOTIFY_OPS: Record<string, Op> = { O: 'open', X: 'exec', W: 'write' };

/** Parses the record slim-probe writes ("slim-trace 1 fanotify", then "KIND PATH" lines). */
export function parseFanotifyRecord(text: Buffer, where: string): Trace {
  const lines = text.toString('latin1').split('\n');
  if (!/^slim-trace 1 fanotify$/.test(lines[0] ?? '')) {
    throw new SlimError(`${where}: not a slim fanotify record (first line '${(lines[0] ?? '').slice(0, 40)}')`);
  }
  const trace = emptyTrace('fanotify');
  for (const [index, line] of lines.slice(1).entries()) {
    if (line === '') continue;
    if (line === '! overflow') {
      trace.overflow = true;
      continue;
    }
    const exit = /^# exit (\d+)$/.exec(line);
    if (exit) {
      trace.exitCode = Number(exit[1]);
      continue;
    }
    const op = FANOTIFY_OPS[line[0]!];
    if (!op || line[1] !== ' ' || line[2] !== '/') throw new SlimError(`${where}: line ${index + 2}: malformed record '${line.slice(0, 60)}'`);
    addOp(trace, line.slice(2).replace(/\\x([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), op);
  }
  return trace;
}

// ---- strace ----

const C_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', v: '\v', f: '\f', '"': '"', '\\': '\\', "'": "'" };

/** Reads the C string literals of a syscall's arguments (strace prints paths that way). */
function stringArgs(args: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '"') continue;
    let value = '';
    for (i++; i < args.length && args[i] !== '"'; i++) {
      if (args[i] !== '\\') {
        value += args[i];
        continue;
      }
      const next = args[++i]!;
      if (next === 'x') {
        value += String.fromCharCode(parseInt(args.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (/[0-7]/.test(next)) {
        const oct = /^[0-7]{1,3}/.exec(args.slice(i))![0];
        value += String.fromCharCode(parseInt(oct, 8));
        i += oct.length - 1;
      } else {
        value += C_ESCAPES[next] ?? next;
      }
    }
    out.push(value);
  }
  return out;
}

/** The directory an *at() call is relative to, as -y shows it: "3</srv/site>" or "AT_FDCWD</srv/site>". */
function dirfdPath(args: string): string | undefined {
  return /^\s*(?:-?\d+|AT_FDCWD)<([^>]*)>/.exec(args)?.[1];
}

const OPEN_CALLS = new Set(['open', 'openat', 'openat2', 'creat']);
const EXEC_CALLS = new Set(['execve', 'execveat']);
const STAT_CALLS = new Set(['stat', 'lstat', 'newfstatat', 'fstatat64', 'statx', 'access', 'faccessat', 'faccessat2', 'statfs', 'chdir', 'utimensat', 'getxattr', 'lgetxattr', 'listxattr', 'llistxattr', 'inotify_add_watch', 'chmod', 'fchmodat', 'chown', 'lchown', 'fchownat']);
const LINK_CALLS = new Set(['readlink', 'readlinkat']);
const AT_CALLS = new Set(['openat', 'openat2', 'newfstatat', 'fstatat64', 'statx', 'faccessat', 'faccessat2', 'readlinkat', 'execveat', 'utimensat', 'fchmodat', 'fchownat']);
const LOOKUP_FAILURES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

/**
 * Parses `strace -f -y` output. `workdir` is where the first process started;
 * the parser follows chdir and fork to resolve relative paths.
 */
export function parseStrace(text: Buffer, workdir: string): Trace {
  const trace = emptyTrace('strace');
  const cwd = new Map<string, string>();
  const pending = new Map<string, string>();
  let firstPid: string | undefined;
  for (const raw of text.toString('latin1').split('\n')) {
    let line = raw;
    const pidMatch = /^(\d+)\s+/.exec(line);
    const pid = pidMatch?.[1] ?? '0';
    if (pidMatch) line = line.slice(pidMatch[0].length);
    firstPid ??= pid;
    if (line.endsWith('<unfinished ...>')) {
      pending.set(pid, line.slice(0, -'<unfinished ...>'.length));
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(line);
    if (resumed) {
      line = (pending.get(pid) ?? `${resumed[1]}(`) + resumed[2];
      pending.delete(pid);
    }
    const call = /^(\w+)\((.*)\)\s+=\s+(-?\d+|\?|0x[0-9a-f]+)(?:<[^>]*>)?(?:\s+(E[A-Z0-9]+))?/.exec(line);
    if (!call) continue;
    const [, name, args, ret, errno] = call as unknown as [string, string, string, string, string | undefined];
    const failed = ret.startsWith('-');
    const here = cwd.get(pid) ?? cwd.get(firstPid) ?? workdir;
    if ((name === 'clone' || name === 'clone3' || name === 'fork' || name === 'vfork') && !failed) {
      cwd.set(ret, here);
      continue;
    }
    if (name === 'getdents64' || name === 'getdents') {
      const dir = dirfdPath(args);
      if (dir?.startsWith('/')) addOp(trace, normalise(dir), 'readdir');
      continue;
    }
    const strings = stringArgs(args);
    if (strings.length === 0) continue;
    const base = AT_CALLS.has(name) ? dirfdPath(args) ?? here : here;
    const path = normalise(strings[0]!.startsWith('/') ? strings[0]! : joinPath(base, strings[0]!));
    if (failed) {
      if (errno && LOOKUP_FAILURES.has(errno)) addOp(trace, path, 'missing');
      continue;
    }
    if (OPEN_CALLS.has(name)) addOp(trace, path, /O_DIRECTORY/.test(args) ? 'readdir' : /O_WRONLY|O_RDWR|O_CREAT/.test(args) ? 'write' : 'open');
    else if (EXEC_CALLS.has(name)) addOp(trace, path, 'exec');
    else if (LINK_CALLS.has(name)) addOp(trace, path, 'readlink');
    else if (STAT_CALLS.has(name)) {
      addOp(trace, path, 'stat');
      if (name === 'chdir') cwd.set(pid, path);
    }
  }
  const exit = /\+\+\+ exited with (\d+) \+\+\+\s*$/.exec(text.toString('latin1'));
  if (exit) trace.exitCode = Number(exit[1]);
  return trace;
}
