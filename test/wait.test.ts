// Which wait strategies a run uses: only what the user asked for, and HTTP only where HTTP will be spoken.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Container } from '../src/engine.js';
import { chooseWaits, WAIT_STRATEGIES, type WaitTarget } from '../src/wait.js';

const chosen = (...args: Parameters<typeof chooseWaits>) => chooseWaits(...args).map((w) => /\(([^)]+)\)$/.exec(w.what)?.[1]);

describe('chooseWaits', () => {
  it('waits for HTTP only when HTTP will be spoken, else only connects', () => {
    expect(chosen({}, [8000, 9443], true)).toEqual(['http']);
    expect(chosen({}, [6379], false)).toEqual(['tcp']);
    expect(chosen({}, [], false)).toEqual([]);
  });

  it('uses what the user asked for instead of the ports, and HTTP after it when HTTP is spoken', () => {
    expect(chosen({ log: 'ready' }, [6379], false)).toEqual(['--ready-log']);
    expect(chosen({ exec: 'pg_isready', delaySeconds: 2 }, [5432], false)).toEqual(['--ready-delay', '--ready-exec']);
    expect(chosen({ exec: 'true' }, [8000], true)).toEqual(['--ready-exec', 'http']);
  });
});

describe('the http wait', () => {
  /** A server that answers each request `delayMs` late, counting the connections it got. */
  const slowServer = async (delayMs: number): Promise<{ server: Server; port: number; connections: () => number }> => {
    let connections = 0;
    const server = createServer((_req, res) => void setTimeout(() => res.end('ok'), delayMs));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
  };
  const targetOf = (port: number, listening: Set<number> | undefined): WaitTarget => ({
    container: { listeningPorts: async () => listening } as unknown as Container,
    hostPorts: new Map([[8000, port]]), httpPorts: new Set(), exec: async () => { throw new Error('not used'); },
  });

  it('lets a request to a port that listens inside wait for its answer, however late, instead of sending it again', async () => {
    const { server, port, connections } = await slowServer(1200);
    try {
      const target = targetOf(port, new Set([8000]));
      expect(await WAIT_STRATEGIES.http([8000]).poll(target)).toBe(true);
      expect(connections()).toBe(1);
      expect([...target.httpPorts]).toEqual([8000]);
    } finally {
      server.close();
    }
  });

  it('cuts the first attempts short where it cannot see the port listen (the proxy may hold them)', async () => {
    const { server, port } = await slowServer(1200);
    try {
      const waiter = WAIT_STRATEGIES.http([8000]);
      expect(await waiter.poll(targetOf(port, undefined))).toBe(false);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
