// Start-up: the engine module loads dockerode without BuildKit's gRPC session
// client and the SSH client, and each loads when it is first called. Run in a
// fresh process on the built module, so that nothing else has loaded them.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const ENGINE = new URL('../dist/engine.js', import.meta.url).pathname;

describe('engine start-up', () => {
  it('dockerode comes without its session and SSH clients, which load on their first call', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(ENGINE)});
      const require = createRequire(${JSON.stringify(ENGINE)});
      const loaded = (name) => Object.keys(require.cache).some((path) => path.includes('/node_modules/' + name + '/'));
      const before = { grpc: loaded('@grpc/grpc-js'), ssh2: loaded('ssh2') };
      // What docker-modem does for a DOCKER_HOST of ssh://: an agent that connects on its first request.
      const agent = require('docker-modem/lib/ssh.js')({ host: '127.0.0.1', port: 1 });
      console.log(JSON.stringify({ before, after: { ssh2: loaded('ssh2') }, agent: agent.constructor.name }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ before: { grpc: false, ssh2: false }, after: { ssh2: true }, agent: 'Agent' });
  });
});
