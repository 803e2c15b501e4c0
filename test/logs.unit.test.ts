// The app's own log is part of the verdict: a slim image that makes the app
// warn where the original did not diverges, even when every probe answers alike.
import { describe, expect, it } from 'vitest';
import { compareRuns, newWarnings } from '../src/compare.js';
import type { ProbeResult } from '../src/drivers/result.js';

const ok: ProbeResult = { kind: 'http', name: 'GET /', status: 200, size: 2, digest: 'sha256:x', compare: 'full', ok: true, excerpt: 'ok', probe: { method: 'GET', path: '/' } };

describe('app log comparison', () => {
  it('ignores what differs between two runs of the same app: times, pids, ids, counts', () => {
    const original = [
      '[2026-11-23 12:00:01 +0000] [7] [INFO] Booting worker with pid: 7',
      'Not Found: /favicon.ico',
      'WARNING 12:00:02 cache miss for key 4f2a9c1e0b3d7a66',
    ].join('\n');
    const slim = [
      '[2026-11-23 12:05:44 +0000] [8] [INFO] Booting worker with pid: 8',
      'Not Found: /favicon.ico',
      'WARNING 12:05:45 cache miss for key 99aa00bb11cc22dd',
    ].join('\n');
    expect(newWarnings(original, slim)).toEqual([]);
  });

  it('reports trouble the original never printed, with the path it names', () => {
    const original = 'server ready on :8080\n';
    const slim = [
      'server ready on :8080',
      'Ignoring debug-1.6.3 because its extensions are not built. Try: gem pristine debug --version 1.6.3',
      'warning: cannot open /usr/share/app/templates/mail.txt: No such file or directory',
      'warning: cannot open /usr/share/app/templates/mail.txt: No such file or directory',
    ].join('\n');
    expect(newWarnings(original, slim)).toHaveLength(2);
    const c = compareRuns({ results: [ok], logs: original }, { results: [ok], logs: slim });
    expect(c.equivalent).toBe(false);
    expect(c.total).toBe(2);
    expect(c.same).toBe(1);
    const row = c.rows.find((r) => r.name === 'app log')!;
    expect(row.verdict).toBe('different');
    expect(row.why).toMatch(/^new in the slim image's log: "Ignoring debug-1\.6\.3/);
    expect(row.why).toMatch(/and 1 more line/);
  });

  it('names the path of a missing file', () => {
    const c = compareRuns({ results: [ok], logs: '' }, { results: [ok], logs: "Error: could not load '/etc/app/plugins/zip.so'" });
    expect(c.rows.at(-1)!.why).toMatch(/\(names \/etc\/app\/plugins\/zip\.so\)/);
  });

  it('adds no row when the logs agree, so the probe count is unchanged', () => {
    const c = compareRuns({ results: [ok], logs: 'ready' }, { results: [ok], logs: 'ready\nINFO request served' });
    expect(c).toMatchObject({ equivalent: true, same: 1, total: 1 });
  });
});
