// Engine addresses (--engine, in DOCKER_HOST's forms) and whether an engine
// listens, on sockets of our own (no engine needed).
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionOptions, dockerEngine } from '../src/engine.js';
import { tempDir } from './fixtures.js';

describe('engine addresses', () => {
  it('reads unix and tcp addresses, and refuses others with the forms that work', () => {
    expect(connectionOptions('unix:///run/second/docker.sock')).toEqual({ socketPath: '/run/second/docker.sock' });
    expect(connectionOptions('tcp://127.0.0.1:2375')).toEqual({ host: '127.0.0.1', port: 2375, protocol: 'http' });
    expect(connectionOptions('tcp://[::1]:2376/')).toEqual({ host: '::1', port: 2376, protocol: 'http' });
    for (const bad of ['unix://relative.sock', 'tcp://host', 'ssh://me@host', '/var/run/docker.sock', 'tcp://h:port']) {
      expect(() => connectionOptions(bad), bad).toThrow(/is not an engine address/);
    }
  });

  it('an engine listens when a new connection gets through, and not when nothing accepts it', async () => {
    const dir = await tempDir();
    const path = join(dir, 'engine.sock');
    const server = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      expect(await dockerEngine({ version: 'test', host: `unix://${path}` }).listening()).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await dockerEngine({ version: 'test', host: `unix://${path}` }).listening()).toBe(false);
    expect(await dockerEngine({ version: 'test', host: 'tcp://127.0.0.1:1' }).listening()).toBe(false);
  });
});
