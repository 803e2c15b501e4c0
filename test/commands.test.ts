// Command and batch-run answers: what verification compares.
import { describe, expect, it } from 'vitest';
import { commandResult, execArgv } from '../src/drivers/commands.js';

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
