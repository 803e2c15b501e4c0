// Command and batch-run answers: what verification compares.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandResult, execArgv, runHostCommand } from '../src/drivers/commands.js';
import { tempDir } from './fixtures.js';

describe('command answers', () => {
  it('mask volatile output (timestamps, UUIDs) like HTTP bodies, and nothing else', () => {
    const at = (when: string, rows: number) => commandResult('run', 'run job', 0, Buffer.from(`started ${when}\nconverted ${rows} rows\n`));
    expect(at('2026-11-23 12:00:01', 3).digest).toBe(at('2026-11-24T08:15:00Z', 3).digest);
    expect(at('2026-11-23 12:00:01', 3).digest).not.toBe(at('2026-11-23 12:00:01', 4).digest);
    expect(at('2026-11-23 12:00:01', 3).excerpt).toBe('started <masked>\nconverted 3 rows\n');
  });

  it('keep the exit code as the status, and fail on a non-zero one', () => {
    expect(commandResult('exec', 'exec x', 125, Buffer.alloc(0))).toMatchObject({ status: 125, ok: false, error: 'exited with 125', compare: 'full' });
    expect(commandResult('host-exec', 'host-exec x', 0, Buffer.from('took 3.2s'))).toMatchObject({ ok: true, compare: 'status' });
  });

  it('run plain words directly and anything with shell syntax through /bin/sh', () => {
    expect(execArgv('  redis-cli   ping ')).toEqual(['redis-cli', 'ping']);
    expect(execArgv('redis-cli get "a b"')).toEqual(['/bin/sh', '-c', 'redis-cli get "a b"']);
  });
});

/** Whether `pid` still runs (a killed child nobody reaped yet is a zombie: it runs no more). */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A command whose background child (output elsewhere, so it holds no pipe open) writes its pid and sleeps. */
async function backgroundChild(after: string): Promise<{ command: string; pid: () => number; started: () => boolean }> {
  const pidFile = join(await tempDir(), 'child.pid');
  return {
    command: `sleep 60 >/dev/null 2>&1 & echo $! > ${pidFile}.tmp && mv ${pidFile}.tmp ${pidFile}; ${after}`,
    pid: () => Number(readFileSync(pidFile, 'utf8')),
    started: () => existsSync(pidFile),
  };
}

describe('host commands', () => {
  it('kill what the command started, not only its shell, on timeout', async () => {
    const child = await backgroundChild('wait');
    const result = await runHostCommand(child.command, {}, { timeoutMs: 1000 });
    expect(result).toMatchObject({ kind: 'host-exec', ok: false, status: 128, error: 'timed out after 1s' });
    await expect.poll(() => running(child.pid()), { timeout: 3000 }).toBe(false);
  });

  it('kill what the command started when the run is torn down', async () => {
    const child = await backgroundChild('wait');
    const teardown = new AbortController();
    const finished = runHostCommand(child.command, {}, { signal: teardown.signal });
    await expect.poll(child.started, { timeout: 5000 }).toBe(true);
    teardown.abort();
    expect(await finished).toMatchObject({ ok: false, error: 'the run was torn down' });
    await expect.poll(() => running(child.pid()), { timeout: 3000 }).toBe(false);
  });

  it('end with the shell: what it left in the background is killed, its exit code is the answer', async () => {
    const child = await backgroundChild('echo done; exit 3');
    const started = Date.now();
    const result = await runHostCommand(child.command, {});
    expect(result).toMatchObject({ ok: false, status: 3, error: 'exited with 3', excerpt: 'done\n' });
    expect(Date.now() - started).toBeLessThan(5000);
    await expect.poll(() => running(child.pid()), { timeout: 3000 }).toBe(false);
  });
});
