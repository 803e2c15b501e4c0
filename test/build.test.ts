// slim build on every sample app with only the obvious probe: the slim image
// must pass the sample's whole functional check, pages never probed included.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, imageExists, removeImage, sampleCheck, slimContainers } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

interface Report {
  sizes: { original: { size: number; files: number }; slim: { size: number; files: number } };
  kept: Record<string, string[]>;
  verification: { equivalent: boolean; originalRun: string };
  probe: string;
}

const SAMPLES: Array<{ name: string; maxRatio: number }> = [
  { name: 'django-site', maxRatio: 0.25 },
  { name: 'c-hello', maxRatio: 0.05 },
  { name: 'node-api', maxRatio: 0.5 },
  { name: 'static-site', maxRatio: 0.25 },
];

describe('slim build', () => {
  const made: string[] = [];
  afterAll(() => made.forEach(removeImage));

  for (const sample of SAMPLES) {
    it(`slims ${sample.name} into an image that passes its whole functional check`, async () => {
      const dir = await tempDir();
      const tag = `slim-test/shell-${sample.name}:slim`;
      made.push(tag);
      const run = await cli(['build', `slim-samples/${sample.name}:latest`, '--tag', tag], { cwd: dir });
      expect(run.code, run.stderr + run.stdout).toBe(0);
      expect(run.stdout).toMatch(/1\/1 probes equivalent/);
      const report = JSON.parse(readFileSync(join(dir, 'slim.report.json'), 'utf8')) as Report;
      const ratio = report.sizes.slim.size / report.sizes.original.size;
      console.log(`${sample.name}: ${(report.sizes.original.size / 1e6).toFixed(1)} MB -> ${(report.sizes.slim.size / 1e6).toFixed(1)} MB (${(ratio * 100).toFixed(1)}%), ${report.sizes.slim.files}/${report.sizes.original.files} files`);
      expect(ratio).toBeLessThanOrEqual(sample.maxRatio);
      expect(report.verification.equivalent).toBe(true);
      // The trace run sent the original the same probe: its answer is the original's, with no run of its own.
      expect(report.verification.originalRun).toBe('traced');
      expect(run.stdout).toContain("(the original's answers from its trace run)");
      // The plan is the image: one layer entry per kept path, and every reason that names the file it serves names a kept one.
      const kept = report.kept;
      expect(report.sizes.slim.files).toBe(Object.keys(kept).filter((p) => p !== '/').length);
      for (const [path, reasons] of Object.entries(kept)) {
        expect(reasons.length, path).toBeGreaterThan(0);
        for (const reason of reasons) {
          const named = /^(?:ELF dependency of|parent of|source of) (\/.*)$/.exec(reason)?.[1];
          if (named) expect(kept[named], `${path}: ${reason}`).toBeDefined();
        }
      }
      expect(Object.values(kept).flat().filter((r) => r.startsWith('traced')).length).toBeGreaterThan(0);
      const check = sampleCheck(sample.name, tag);
      expect(check.ok, check.output).toBe(true);
    });
  }

  it('the original images are untouched and still pass their checks', () => {
    for (const { name } of SAMPLES) expect(sampleCheck(name, `slim-samples/${name}:latest`).ok).toBe(true);
  });

  it('leaves no container behind', () => {
    expect(slimContainers()).toEqual([]);
  });
});

describe('bad input', () => {
  it('names a missing image and what to do', async () => {
    const run = await cli(['build', 'slim-test/shell-no-such-image:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no such image/);
    expect(run.stderr).toMatch(/hint: build or load it first/);
  });

  it('rejects malformed refs, unknown packs and flags as usage errors', async () => {
    expect((await cli(['build', 'Bad Ref!!'])).code).toBe(2);
    const pack = await cli(['build', 'slim-samples/c-hello:latest', '--include-pack', 'nope']);
    expect(pack.code).toBe(2);
    expect(pack.stderr).toMatch(/unknown pack 'nope'/);
    const flag = await cli(['build', 'slim-samples/c-hello:latest', '--frobnicate']);
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it('refuses to overwrite the original image', async () => {
    const run = await cli(['build', 'slim-samples/c-hello:latest', '--tag', 'slim-samples/c-hello:latest']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/never overwrites it/);
    expect(imageExists('slim-samples/c-hello:latest')).toBe(true);
  });

  it('names the file and line of a broken allowlist', async () => {
    const dir = await tempDir();
    const file = join(dir, 'slim.allow');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, '/ok\nnot/absolute\n'));
    const run = await cli(['build', 'slim-samples/c-hello:latest', '--include-path-file', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${file}:2: 'not/absolute' is not an absolute path`);
  });
});
