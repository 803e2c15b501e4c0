// Engine addresses (--engine, in DOCKER_HOST's forms) and whether an engine
// listens, on sockets of our own (no engine needed).
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionOptions, dockerEngine, holdLabels, holdName, HOST_LABEL, PID_LABEL, SESSION_LABEL, TOOL_LABEL } from '../src/engine.js';
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

  it("a hold's name says whose it is, and the reaper reads it back", () => {
    const whose = (session: string, host: string, pid: string) => ({ [SESSION_LABEL]: session, [HOST_LABEL]: host, [PID_LABEL]: pid });
    for (const labels of [whose('k3x9a2bq', 'ci-runner-7.example', '4242'), whose('Session With Spaces/ünïcode', 'build-host', '1')]) {
      const { repo, tag } = holdName(labels, 12);
      // What the engine takes as a name: lower-case repository path, tag of [\w.-] up to 128.
      expect(repo).toMatch(/^[a-z0-9-]+\/[a-z0-9]+$/);
      expect(tag).toMatch(/^[\w][\w.-]{0,127}$/);
      expect(holdLabels(`${repo}:${tag}`)).toEqual({ ...labels, [TOOL_LABEL]: 'slim' });
    }
    // A host name a tag cannot hold is changed, so it never matches this host: only prune --all removes it.
    const { repo, tag } = holdName(whose('s', 'odd host!', '7'), 1);
    expect(holdLabels(`${repo}:${tag}`)?.[HOST_LABEL]).toBe('odd_host_');
    for (const other of ['slim-pending/zz:host-1-2', 'slim-pending/6162:host-x-2', 'app:latest', 'slim-pending/6162:host-1', 'my/slim-pending/6162:h-1-2']) {
      expect(holdLabels(other), other).toBeUndefined();
    }
  });
});
