// Common image layouts the keep rules must cover, on the real engine: each
// fixture image (fixtures/layouts/NAME, built from the local Debian base) is
// slimmed once with its one obvious probe, then asked for what that probe
// never touched. The same checks pass on the original first, so they can fail.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, removeImage } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

interface Check {
  port: number;
  path: string;
  body: RegExp;
}

interface Layout {
  name: string;
  /** What the one obvious probe does not reach. */
  checks: Check[];
  /** Kept paths (matched by pattern) and the reason each must give. */
  reasons: Array<[RegExp, RegExp]>;
}

const LAYOUTS: Layout[] = [
  {
    name: 'web-roots',
    checks: [
      { port: 80, path: '/about.html', body: /about var-www/ },
      { port: 80, path: '/docs/', body: /var-www docs index/ },
      { port: 80, path: '/docs/style.css', body: /color: teal/ },
      { port: 8080, path: '/guide/page.html', body: /nginx-html guide/ },
    ],
    reasons: [
      [/\/usr\/share\/nginx\/html\/guide\/page\.html$/, /app directory \/usr\/share\/nginx \(not from a package, says the dpkg database\)/],
      [/\/var\/www\/html\/docs\/style\.css$/, /app directory \/var\/www\/html \(not from a package/],
    ],
  },
  {
    name: 'python-stdlib',
    checks: [
      { port: 8000, path: '/csv', body: /^a,"b,c"$/m },
      { port: 8000, path: '/lzma', body: /^1000$/m },
      { port: 8000, path: '/decimal', body: /^3\.305$/m },
      { port: 8000, path: '/sqlite', body: /^42$/m },
    ],
    reasons: [
      [/\/usr\/lib\/python3\.11\/csv\.py$/, /python (package|standard library)/],
      [/\/lib-dynload\/_lzma\.cpython-311-[^/]*\.so$/, /python (package|standard library)/],
      [/\/liblzma\.so\.5\.[0-9.]+$/, /ELF dependency of \/usr\/lib\/python3\.11\/lib-dynload\/_lzma/],
    ],
  },
  {
    name: 'iconv-volume',
    checks: [
      { port: 8080, path: '/to/UTF-16LE', body: /^6800e9006c006c006f00$/m },
      { port: 8080, path: '/to/UTF-16', body: /^(fffe6800e9006c006c006f00|feff006800e9006c006c006f)$/m },
      { port: 8080, path: '/to/CP1252', body: /^68e96c6c6f$/m },
      { port: 8080, path: '/data/notes/greeting.txt', body: /kept from the volume/ },
    ],
    reasons: [
      [/\/gconv\/UTF-16\.so$/, /pack gconv/],
      [/\/data\/notes\/greeting\.txt$/, /VOLUME \/data of the image/],
    ],
  },
];

const image = (name: string, kind: 'orig' | 'slim') => `slim-test/plan-${name}:${kind}`;
const docker = (...args: string[]) => {
  const run = spawnSync('docker', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`docker ${args.join(' ')}: ${run.stderr}`);
  return run.stdout.trim();
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs an image with its ports on 127.0.0.1 and returns each check's body (or error). */
async function answers(ref: string, checks: Check[]): Promise<string[]> {
  const ports = [...new Set(checks.map((c) => c.port))];
  const container = docker('run', '-d', '--label', 'io.slim.test=plan', ...ports.flatMap((p) => ['-p', `127.0.0.1::${p}`]), ref);
  try {
    const base = (port: number) => `http://127.0.0.1:${docker('port', container, String(port)).split('\n')[0]!.split(':').pop()}`;
    const get = async (url: string) => {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return `${res.status}\n${await res.text()}`;
    };
    for (const port of ports) {
      for (let i = 0; i < 80 && !(await get(`${base(port)}/`).then(() => true, () => false)); i++) await sleep(250);
    }
    return await Promise.all(checks.map((c) => get(base(c.port) + c.path).catch((err: Error) => `error ${err.message}`)));
  } finally {
    docker('rm', '-f', container);
  }
}

describe('layouts the keep rules cover', () => {
  const dirs: string[] = [];

  beforeAll(() => {
    for (const { name } of LAYOUTS) docker('build', '--quiet', '-t', image(name, 'orig'), new URL(`../fixtures/layouts/${name}`, import.meta.url).pathname);
  });

  afterAll(async () => {
    for (const { name } of LAYOUTS) for (const kind of ['orig', 'slim'] as const) removeImage(image(name, kind));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  for (const layout of LAYOUTS) {
    it(`${layout.name}: the slim image answers what the probe never asked`, async () => {
      const original = await answers(image(layout.name, 'orig'), layout.checks);
      layout.checks.forEach((c, i) => expect(original[i], `original ${c.path}`).toMatch(c.body));

      const dir = await tempDir();
      dirs.push(dir);
      const run = await cli(['build', image(layout.name, 'orig'), '--tag', image(layout.name, 'slim'), '--plan-out', 'plan.json'], { cwd: dir });
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as { kept: Record<string, string[]>; rules: Array<{ rule: string; bytes: number }> };
      for (const [pattern, reason] of layout.reasons) {
        const path = Object.keys(plan.kept).find((p) => pattern.test(p));
        expect(path, `a kept path matching ${pattern}`).toBeDefined();
        expect(plan.kept[path!]!.join('; ')).toMatch(reason);
      }
      const slim = await answers(image(layout.name, 'slim'), layout.checks);
      expect(slim).toEqual(original);
      console.log(`${layout.name}: bytes per keep rule: ${plan.rules.map((r) => `${r.rule} ${(r.bytes / 1e6).toFixed(1)} MB`).join(', ')}`);
    });
  }

  it('leaves no container behind', () => {
    const ours = LAYOUTS.flatMap(({ name }) => ['orig', 'slim'].map((kind) => docker('ps', '-aq', '--filter', `ancestor=${image(name, kind as 'orig' | 'slim')}`)));
    expect([...ours, docker('ps', '-aq', '--filter', 'label=io.slim.test=plan')].join('')).toBe('');
  });
});
