// Command probes: --exec runs inside the app's container, --host-exec on the
// host with the app's published address in its environment.
import { spawn } from 'node:child_process';
import type { Container } from '../engine.js';
import { DEFAULT_MASKS, digestBody } from './http.js';
import type { ProbeResult } from './result.js';

const SHELL_SYNTAX = /[|&;<>()$`*?[\]{}~!"'\\]/;

/** Runs a command directly when it is plain words, through /bin/sh otherwise (which the image must have). */
export const execArgv = (command: string): string[] => (SHELL_SYNTAX.test(command) ? ['/bin/sh', '-c', command] : command.trim().split(/\s+/));

/** A command's answer: its exit code and a digest of its output (a batch run's too), volatile parts masked as in HTTP bodies. */
export function commandResult(kind: 'exec' | 'host-exec' | 'run', name: string, exitCode: number, output: Buffer, error?: string): ProbeResult {
  const { digest, masked } = digestBody(output, DEFAULT_MASKS);
  return {
    kind,
    name,
    status: exitCode,
    size: output.length,
    digest,
    // A host command is the user's own test run: its output holds timings, its exit code is the verdict.
    compare: kind === 'host-exec' ? 'status' : 'full',
    ok: exitCode === 0 && !error,
    error: error ?? (exitCode === 0 ? undefined : `exited with ${exitCode}`),
    excerpt: Buffer.from(masked, 'latin1').toString('utf8').slice(0, 300),
  };
}

/** Runs `argv` (the command probe `command`, maybe wrapped by a tracer) in the container. */
export async function runExecProbe(container: Container, argv: string[], command: string, user: string | undefined): Promise<ProbeResult> {
  try {
    const { exitCode, stdout, stderr } = await container.exec(argv, { user });
    return commandResult('exec', `exec ${command}`, exitCode, Buffer.concat([stdout, stderr]));
  } catch (err) {
    return commandResult('exec', `exec ${command}`, -1, Buffer.alloc(0), (err as Error).message);
  }
}

/** Environment handed to --host-exec and --verify-cmd commands. */
export function addressEnv(ports: Map<number, number>, container: string): Record<string, string> {
  const env: Record<string, string> = { SLIM_CONTAINER: container };
  const first = [...ports][0];
  if (first) {
    env.SLIM_HTTP_ADDR = `127.0.0.1:${first[1]}`;
    env.SLIM_HTTP_URL = `http://127.0.0.1:${first[1]}`;
  }
  for (const [inside, outside] of ports) env[`SLIM_PORT_${inside}`] = String(outside);
  return env;
}

export interface HostCommandOptions {
  timeoutMs?: number;
  /** Aborted when the run is torn down (Ctrl-C): the command stops with it. */
  signal?: AbortSignal;
}

/**
 * Runs `command` through /bin/sh on the host. It gets its own process group
 * (what it starts in the background, a test runner's workers), killed whole on
 * timeout, on teardown and once the shell is done: nothing it started outlives it.
 */
export function runHostCommand(command: string, env: Record<string, string>, opts: HostCommandOptions = {}): Promise<ProbeResult> {
  const { timeoutMs = 300_000, signal } = opts;
  const name = `host-exec ${command}`;
  if (signal?.aborted) return Promise.resolve(commandResult('host-exec', name, -1, Buffer.alloc(0), 'the run was torn down'));
  return new Promise((resolve) => {
    // detached: the shell leads a new process group (and session), so one kill reaches everything in it.
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is empty already.
      }
    };
    let stopped: string | undefined;
    const stop = (why: string) => {
      stopped ??= why;
      killGroup();
    };
    const timer = setTimeout(() => stop(`timed out after ${Math.round(timeoutMs / 1000)}s`), timeoutMs);
    const onAbort = () => stop('the run was torn down');
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    // What the shell left running in the background would hold its output open (and live on) after it exits.
    child.on('exit', killGroup);
    child.on('error', (err) => {
      done();
      resolve(commandResult('host-exec', name, -1, Buffer.alloc(0), err.message));
    });
    child.on('close', (code, exitSignal) => {
      done();
      resolve(commandResult('host-exec', name, code ?? 128, Buffer.concat(chunks), stopped ?? (exitSignal ? `killed by ${exitSignal}` : undefined)));
    });
  });
}
