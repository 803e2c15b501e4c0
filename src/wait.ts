// Readiness as wait strategies (the testcontainers model): a table of ways to
// tell that the app is ready, chosen by what the user asked for. No strategy
// sends a byte the app was not asked to understand: HTTP goes only to ports
// that HTTP probes (or the default GET /) will use; other ports are only
// connected to.
import { connect } from 'node:net';
import type { Container } from './engine.js';
import { fetchWithin } from './drivers/http.js';
import type { ProbeResult } from './drivers/result.js';

/** What the user asked readiness to wait for (--ready-log, --ready-exec, --ready-delay). */
export interface ReadyOptions {
  log?: string;
  exec?: string;
  delaySeconds?: number;
}

export interface WaitTarget {
  container: Container;
  /** Container port → host port on 127.0.0.1. */
  hostPorts: Map<number, number>;
  /** Runs a command in the container the way command probes run (traced). */
  exec(command: string): Promise<ProbeResult>;
  /** Ports that answered HTTP, filled by the http strategy. */
  httpPorts: Set<number>;
}

/** One wait in progress: `poll` is called until it says ready or time runs out. */
export interface Waiter {
  /** What it waits for, for progress ("port 6379 to accept a connection (tcp)"). */
  what: string;
  /** What did not happen, for the error ("port 6379 did not accept a connection"). */
  missed: string;
  /** The flag that changes or replaces this wait. */
  hint: string;
  poll(target: WaitTarget): Promise<boolean>;
}

const ANOTHER_WAY = '--ready-log REGEX, --ready-exec CMD or --ready-delay SECONDS';

/**
 * How long a connection must stay open to count, where slim cannot see the container's listening
 * ports: docker-proxy accepts, then hangs up when nothing listens inside.
 */
const HELD_MS = 300;

function connectionHeld(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    // No connection within the time: not ready (a SYN nobody answers is not a listener).
    const timer = setTimeout(() => done(false), HELD_MS + 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      setTimeout(() => done(!socket.destroyed && socket.readyState === 'open'), HELD_MS);
    });
    socket.once('data', () => done(true));
    socket.once('end', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** How long a request to a port that listens inside the container may wait for its answer. */
const QUEUED_ATTEMPT_MS = 5000;

/** How long the other ports get once one answers HTTP: a port that stays silent speaks something else (TLS, gRPC). */
const OTHER_PORTS_GRACE_MS = 10_000;

export const WAIT_STRATEGIES = {
  /** Every listed port accepts a TCP connection and holds it; nothing is sent. */
  tcp: (ports: number[]): Waiter => {
    const pending = new Set(ports);
    return {
      what: `port ${ports.join(', ')} to accept a connection (tcp)`,
      get missed() {
        return `port ${[...pending].join(', ')} did not accept a connection (the tcp wait)`;
      },
      hint: `raise --ready-timeout, or wait another way: ${ANOTHER_WAY}`,
      async poll(target) {
        const listening = await target.container.listeningPorts();
        for (const port of [...pending]) if (listening ? listening.has(port) : await connectionHeld(target.hostPorts.get(port)!)) pending.delete(port);
        return pending.size === 0;
      },
    };
  },
  /** The ports answer HTTP (any status); once one has, the others get a short grace. */
  http: (ports: number[]): Waiter => {
    const pending = new Set(ports);
    let firstAnswer = 0;
    let attempts = 0;
    const waiter: Waiter = {
      what: `the app to answer HTTP on port ${ports.join(', ')} (http)`,
      get missed() {
        return `the app did not answer HTTP on port ${[...pending].join(', ')}`;
      },
      hint: 'raise --ready-timeout, or set --http-probe-port to the port the app serves HTTP on; an app that does not speak HTTP is probed with --exec CMD (then slim only connects to its ports)',
      async poll(target) {
        // A request sent before the app listens is held by the port's proxy without an answer: none
        // is sent until the port listens, where slim sees that, and then it waits in the app's own
        // backlog until the app accepts it (gunicorn binds before its workers can answer), so cutting
        // it short only loses its place. Where slim cannot see, the first attempts are short and
        // later ones longer, for an app slow to answer its first.
        const listening = await target.container.listeningPorts();
        const listened = [...pending].filter((port) => !listening || listening.has(port));
        const attemptMs = listening ? QUEUED_ATTEMPT_MS : Math.min(2000, 250 * 2 ** attempts);
        if (listened.length > 0) attempts++;
        await Promise.all(listened.map(async (port) => {
          try {
            await fetchWithin(`http://127.0.0.1:${target.hostPorts.get(port)}/`, { redirect: 'manual' }, attemptMs);
            pending.delete(port);
            target.httpPorts.add(port);
            firstAnswer ||= Date.now();
          } catch {
            // not listening yet, or not HTTP
          }
        }));
        return pending.size === 0 || (firstAnswer > 0 && Date.now() - firstAnswer > OTHER_PORTS_GRACE_MS);
      },
    };
    return waiter;
  },
  /** A line of the app's output matches --ready-log. */
  log: (pattern: string): Waiter => {
    const regex = new RegExp(pattern, 'm');
    return {
      what: `a log line matching /${pattern}/ (--ready-log)`,
      missed: `no line of the app's output matched --ready-log /${pattern}/`,
      hint: 'raise --ready-timeout, or change --ready-log to a line the app prints when it is ready',
      poll: async (target) => regex.test(await target.container.logs(10_000)),
    };
  },
  /** --ready-exec exits 0 inside the container. */
  exec: (command: string): Waiter => ({
    what: `'${command}' to exit 0 inside the container (--ready-exec)`,
    missed: `--ready-exec '${command}' did not exit 0`,
    hint: 'raise --ready-timeout, or change --ready-exec to a command that succeeds once the app is ready',
    poll: async (target) => (await target.exec(command)).status === 0,
  }),
  /** A fixed time (--ready-delay). */
  delay: (seconds: number): Waiter => {
    let until = 0;
    return {
      what: `${seconds}s (--ready-delay)`,
      missed: `--ready-delay ${seconds}s did not pass`,
      hint: 'raise --ready-timeout above --ready-delay',
      poll: async () => Date.now() >= (until ||= Date.now() + seconds * 1000),
    };
  },
} satisfies Record<string, (arg: never) => Waiter>;

/**
 * The waits for a run: what the user asked for, then HTTP on the exposed ports
 * when HTTP will be spoken, or else (when nothing was asked) TCP on them.
 */
export function chooseWaits(ready: ReadyOptions, ports: number[], speaksHttp: boolean): Waiter[] {
  const waits: Waiter[] = [];
  if (ready.delaySeconds !== undefined) waits.push(WAIT_STRATEGIES.delay(ready.delaySeconds));
  if (ready.log !== undefined) waits.push(WAIT_STRATEGIES.log(ready.log));
  if (ready.exec !== undefined) waits.push(WAIT_STRATEGIES.exec(ready.exec));
  if (ports.length > 0 && speaksHttp) waits.push(WAIT_STRATEGIES.http(ports));
  else if (ports.length > 0 && waits.length === 0) waits.push(WAIT_STRATEGIES.tcp(ports));
  return waits;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Between polls: an app is ready on average half of this before slim notices, and each poll costs the engine one inspect. */
const POLL_MS = 50;

/**
 * Runs the waits in order within `timeoutMs`; returns the one that timed out.
 * Returns early when the container stops running (the caller says why).
 */
export async function waitReady(target: WaitTarget, waits: Waiter[], timeoutMs: number, onWait: (what: string) => void = () => {}): Promise<Waiter | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (const waiter of waits) {
    onWait(waiter.what);
    for (;;) {
      if (!(await target.container.state()).running) return undefined;
      if (await waiter.poll(target)) break;
      if (Date.now() > deadline) return waiter;
      await sleep(POLL_MS);
    }
  }
  return undefined;
}
