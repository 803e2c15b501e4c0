// strace: Debian's strace, shipped into the container with its own libraries
// and loader, follows the app's processes; command probes get their own strace
// run (docker exec) whose record is merged. It also sees failed lookups and
// stat-only accesses, and is much slower than fanotify.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addOp, emptyTrace, mergeTrace, type Trace } from '../trace/trace.js';
import { SlimError } from '../errors.js';
import { probeBinDir } from '../built.js';
import { launchApp, OUT_DIR, PROBE_DIR, SLIM_PROBE, STARTED_MARK, type Tracer } from './tracer.js';
import { joinPath, resolvePath } from '../paths.js';

const MAIN_RECORD = 'trace.strace';

/** strace from its bundle, writing to OUT_DIR/`record`. */
function straceCommand(record: string): string[] {
  const loader = readFileSync(join(probeBinDir(), 'strace', 'loader'), 'utf8').trim();
  return [
    `${PROBE_DIR}/strace/${loader}`, '--library-path', `${PROBE_DIR}/strace`, `${PROBE_DIR}/strace/strace`,
    '-f', '-qq', '-y', '--seccomp-bpf', '-e', 'signal=none', '-e', 'trace=%file,%process,getdents64', '-o', `${OUT_DIR}/${record}`,
  ];
}

export const strace: Tracer = {
  capability: 'SYS_PTRACE',
  bundle: 'strace',
  bundleHint: 'strace was not installed when slim was built: apt-get install strace, then npm run build; or use --tracer fanotify',
  seesMissing: true,
  // slim-probe (root, PID 1) runs strace, which runs slim-probe again as the tracee: it drops
  // CAP_SYS_PTRACE and becomes USER, so only strace itself keeps the capability.
  entrypoint: (command, app) => [SLIM_PROBE, '--', ...straceCommand(MAIN_RECORD), '--', ...launchApp(app, 'SYS_PTRACE', ['--exec', '--started', STARTED_MARK]), ...command],
  execCommand: (command, app, id) => [...straceCommand(`exec-${id}.strace`), '--', ...launchApp(app, 'SYS_PTRACE', ['--exec']), ...command],
  parse(files, where, workdir) {
    const main = files.get(MAIN_RECORD);
    if (!main) throw new SlimError(`collecting the trace: ${MAIN_RECORD} is missing from ${where}`);
    const trace = parseStrace(main, workdir);
    for (const [name, data] of files) if (name !== MAIN_RECORD && name.endsWith('.strace')) mergeTrace(trace, parseStrace(data, workdir));
    return trace;
  },
  refusedHint: 'the engine must allow CAP_SYS_PTRACE for strace',
};

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
      if (dir?.startsWith('/')) addOp(trace, resolvePath('/', dir), 'readdir');
      continue;
    }
    const strings = stringArgs(args);
    if (strings.length === 0) continue;
    const base = AT_CALLS.has(name) ? dirfdPath(args) ?? here : here;
    const path = resolvePath('/', strings[0]!.startsWith('/') ? strings[0]! : joinPath(base, strings[0]!));
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
