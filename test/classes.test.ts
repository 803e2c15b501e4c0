// Classes of software nobody here tuned for (issues 12 and 15): each sample is
// slimmed ONCE with its one obvious probe (GET /) and no allowlist, must then
// pass its whole functional check (pages the probe never asked for), and the
// keep plan must say which rule kept what the check needed, and why.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, removeImage, sampleCheck } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

interface Report {
  sizes: { original: { size: number }; slim: { size: number } };
  kept: Record<string, string[]>;
  keepRules: Array<{ rule: string; paths: number; bytes: number }>;
  packs: Array<{ name: string; why: string }>;
}

interface ClassSample {
  name: string;
  /** A kept path (exact) and what its reasons must say. */
  reasons: Array<[string, RegExp]>;
  /** Keep rules that must have added bytes. */
  rules: string[];
  /** Packs that must be on, and why. */
  packs?: Array<[string, RegExp]>;
}

const SAMPLES: ClassSample[] = [
  {
    name: 'ruby-gems',
    reasons: [['/usr/share/rubygems-integration/all/gems/rack-2.2.22/lib/rack/mime.rb', /package ruby-rack \(dpkg\) owns traced /]],
    rules: ['package-of-kept-code (12.2)'],
  },
  {
    name: 'c-text',
    reasons: [['/usr/lib/x86_64-linux-gnu/gconv/CP1252.so', /pack gconv/]],
    rules: ['pack gconv'],
    packs: [['gconv', /^\/usr\/local\/bin\/text imports iconv_open$/]],
  },
  {
    name: 'shell-cgi',
    reasons: [['/usr/bin/sort', /called by \/srv\/www\/cgi-bin\/count:\d+/], ['/usr/bin/gzip', /called by \/srv\/www\/cgi-bin\/pack:\d+/]],
    rules: ['scripts-call-programs (12.4)'],
  },
  {
    name: 'php-site',
    reasons: [['/usr/lib/php/20220829/iconv.so', /php runtime \/usr loads it: extension=iconv\.so in \/etc\/php\//]],
    rules: ['package-configuration (15.4)'],
  },
  {
    name: 'magick',
    reasons: [
      ['/usr/lib/x86_64-linux-gnu/ImageMagick-6.9.11/modules-Q16/coders/gif.so', /plugin beside \S+\/coders\/\S+\.so, which was loaded by path from \S+\/coders/],
      ['/etc/ImageMagick-6/delegates.xml', /configuration of kept package imagemagick-6-common \(dpkg\)/],
    ],
    rules: ['plugin-siblings (12.3)', 'package-configuration (15.4)'],
  },
  {
    name: 'java-svc',
    reasons: [
      ['/usr/lib/jvm/java-17-openjdk-amd64/lib/libawt.so', /jvm runtime \S+ loads JNI libraries by name/],
      ['/etc/ssl/certs/java/cacerts', /reads its trust store and policy from lib\/security\//],
    ],
    rules: ['runtime-loads-by-name (15.3)'],
  },
  {
    name: 'data-app',
    reasons: [['/srv/data', /owned by the runtime user journal/], ['/srv/data/journal.txt', /owned by the runtime user journal/]],
    rules: ['app-state (15.1)'],
  },
];

const tagOf = (name: string) => `slim-test/wire-${name}:slim`;

describe('classes nobody tuned for, slimmed with their one obvious probe', () => {
  afterAll(() => SAMPLES.forEach(({ name }) => removeImage(tagOf(name))));

  for (const sample of SAMPLES) {
    it(`${sample.name}: passes its whole check, and the plan names the rule and the evidence`, async () => {
      const dir = await tempDir();
      try {
        const run = await cli(['build', `slim-samples/${sample.name}:latest`, '--tag', tagOf(sample.name)], { cwd: dir });
        expect(run.code, run.stderr + run.stdout).toBe(0);
        const report = JSON.parse(readFileSync(join(dir, 'slim.report.json'), 'utf8')) as Report;
        const check = sampleCheck(sample.name, tagOf(sample.name));
        expect(check.ok, check.output).toBe(true);
        for (const [path, reason] of sample.reasons) expect((report.kept[path] ?? []).join('; '), path).toMatch(reason);
        for (const rule of sample.rules) expect(report.keepRules.find((r) => r.rule === rule)?.bytes, rule).toBeGreaterThan(0);
        for (const [pack, why] of sample.packs ?? []) expect(report.packs.find((p) => p.name === pack)?.why, pack).toMatch(why);
        const added = report.keepRules.filter((r) => /\(1[25]\.\d\)$/.test(r.rule)).map((r) => `${r.rule} ${(r.bytes / 1e6).toFixed(2)} MB`);
        console.log(`${sample.name}: ${(report.sizes.original.size / 1e6).toFixed(1)} MB -> ${(report.sizes.slim.size / 1e6).toFixed(1)} MB; ${added.join(', ')}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("data-app: the runtime user's data directory keeps its owner and mode in the slim image", () => {
    const stat = spawnSync('docker', ['run', '--rm', '--entrypoint', 'python3', tagOf('data-app'), '-c', "import os; s = os.stat('/srv/data'); print(s.st_uid, oct(s.st_mode & 0o7777))"], { encoding: 'utf8' });
    expect(stat.stdout.trim(), stat.stderr).toBe('1002 0o750');
  });

  it('leaves no container behind', () => {
    // Only this file's: other sessions may share the engine.
    const ours = SAMPLES.flatMap(({ name }) => spawnSync('docker', ['ps', '-aq', '--filter', `label=io.slim.source=slim-samples/${name}:latest`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean));
    expect(ours).toEqual([]);
  });
});
