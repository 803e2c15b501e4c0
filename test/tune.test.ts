// Proving the slim image: compare, divergence, and tuning a too-narrow build until it is equivalent.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, removeImage, sampleCheck, slimContainers } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

const ORIGINAL = 'slim-samples/django-site:latest';
const NARROW = 'slim-test/shell-django-narrow:slim';
const TUNED = 'slim-test/shell-django-tuned:slim';

/** Pages the trace run never sees: a link-only page, a form POST (with its CSRF token), the 404 page. */
const VERIFY_PROBES = [
  { method: 'GET', path: '/about/' },
  { method: 'POST', path: '/contact/', formFrom: '/contact/', form: { name: 'Ada' }, name: 'POST /contact/ (form)' },
  { method: 'GET', path: '/no-such-page/' },
];

describe('compare and tune', () => {
  afterAll(() => [NARROW, TUNED].forEach(removeImage));

  it('compare of an image with itself is equivalent', async () => {
    const run = await cli(['compare', ORIGINAL, ORIGINAL, '--http-probe', '/', '--http-probe', '/about/', '--http-probe', '/clock/']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/3\/3 probes equivalent/);
  });

  it('a build that cannot see the unprobed page diverges, exits 3 and says what to add', async () => {
    const dir = await tempDir();
    const probes = join(dir, 'verify.json');
    writeFileSync(probes, JSON.stringify(VERIFY_PROBES));
    // --no-app-dirs takes away the rule that keeps the site's own templates: the trace alone is too narrow.
    const run = await cli(['build', ORIGINAL, '--tag', NARROW, '--http-probe', '/', '--no-app-dirs', '--verify-probe-file', probes], { cwd: dir });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toMatch(/GET \/about\/ .*DIFFERENT: status 200 vs 500/);
    expect(run.stderr).toMatch(/diverges from the original/);
    expect(run.stdout).toMatch(/\/srv\/site\/pages\/templates\/pages .*looked for .*about\.html/);
    expect(run.stderr).toMatch(/slim tune/);

    const compare = await cli(['compare', ORIGINAL, NARROW, '--http-probe', '/', '--http-probe', '/about/']);
    expect(compare.code).toBe(3);
    expect(compare.stdout).toMatch(/GET \/about\/.*DIFFERENT/);
    expect(compare.stdout).toMatch(/GET \/ .*same/);
  });

  it('slim tune converges to an equivalent image in at most 3 rounds and explains every allowlist line', async () => {
    const dir = await tempDir();
    const probes = join(dir, 'verify.json');
    writeFileSync(probes, JSON.stringify(VERIFY_PROBES));
    const run = await cli(['tune', ORIGINAL, '--tag', TUNED, '--http-probe', '/', '--no-app-dirs', '--verify-probe-file', probes], { cwd: dir });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'slim.report.json'), 'utf8')) as { rounds: Array<{ round: number; same: number; total: number }> };
    expect(report.rounds.length).toBeGreaterThan(1);
    expect(report.rounds.length).toBeLessThanOrEqual(3);
    const last = report.rounds.at(-1)!;
    expect(last.same).toBe(last.total);
    expect(run.stdout).toMatch(/round\s+paths added\s+probes equivalent/);

    const allow = readFileSync(join(dir, 'slim.allow'), 'utf8').split('\n').filter(Boolean);
    const entries = allow.filter((l) => !l.startsWith('#'));
    expect(entries).toContain('/srv/site/pages/templates/pages'); // a template directory, read as a set
    expect(new Set(entries).size).toBe(entries.length);
    for (const entry of entries) {
      const comment = allow[allow.indexOf(entry) - 1]!;
      expect(comment, entry).toMatch(/^# slim image looked for .* \(diverging: /);
    }
    // The tuned image answers the verified pages like the original does.
    const check = sampleCheck('django-site', TUNED);
    expect(check.output).toMatch(/ok {3}django-site: about page/);
    expect(check.output).toMatch(/ok {3}django-site: contact form POST/);
    expect(check.output).toMatch(/ok {3}django-site: custom 404/);

    // A later build --tune reads the committed allowlist from its first round (read once: one warning
    // per line that matches nothing) and is equivalent at once.
    writeFileSync(join(dir, 'slim.allow'), `${readFileSync(join(dir, 'slim.allow'), 'utf8')}/srv/no-such-dir\n`);
    const again = await cli(['build', ORIGINAL, '--tune', '2', '--tag', TUNED, '--http-probe', '/', '--no-app-dirs', '--verify-probe-file', probes], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(readFileSync(join(dir, 'slim.report.json'), 'utf8')) as { rounds: unknown[]; warnings: string[] };
    expect(second.rounds).toHaveLength(1);
    expect(second.warnings.filter((w) => w.includes('/srv/no-such-dir'))).toEqual([expect.stringMatching(/slim\.allow:\d+: '\/srv\/no-such-dir' matches nothing/)]);
    expect(readFileSync(join(dir, 'slim.allow'), 'utf8').split('\n').filter(Boolean)).toEqual([...allow, '/srv/no-such-dir']);
  });

  it('leaves no container behind', () => {
    expect(slimContainers()).toEqual([]);
  });
});
