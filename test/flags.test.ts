// The probe and output flags on the real engine: a crawl that reaches pages no
// probe names, host commands and --verify-cmd against both images, the keep
// plan file, a docker save archive that docker load takes, and a build with
// nothing to verify.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, imageExists, removeImage, sampleCheck, slimContainers } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

const imageId = (ref: string) => execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', ref], { encoding: 'utf8' }).trim();

describe('probe and output flags', () => {
  const made: string[] = [];
  afterAll(() => made.forEach(removeImage));

  it('--http-crawl follows links two deep: the trace keeps pages only a link reaches, and each is verified', async () => {
    const dir = await tempDir();
    const tag = 'slim-test/shell-crawl:slim';
    made.push(tag);
    // --no-app-dirs: only the trace keeps the site's pages, so what the crawl reached is what is there.
    const run = await cli(['build', 'slim-samples/static-site:latest', '--tag', tag, '--http-probe', '/', '--http-crawl', '--no-app-dirs', '--plan-out', 'plan.json'], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/GET \/docs\/faq\.html \(crawl\) .*same/);
    expect(run.stdout).toMatch(/5\/5 probes equivalent/);
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as { kept: Record<string, string[]> };
    expect(plan.kept['/var/www/site/docs/faq.html']).toContain('traced (open)');
    expect(plan.kept['/var/www/site/errors/404.html']).toBeUndefined();
    const check = sampleCheck('static-site', tag);
    expect(check.output).toMatch(/ok {3}static-site: faq \(two links deep\)/);
  });

  it('--host-exec and --verify-cmd run on the host against each image, --plan-out explains every path, archive:FILE loads with docker load', async () => {
    const dir = await tempDir();
    const tag = 'slim-test/shell-hello:slim';
    made.push(tag);
    const hostExec = `echo "$SLIM_HTTP_URL $SLIM_CONTAINER" >> host-exec.log; node -e "fetch(process.env.SLIM_HTTP_URL).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(2))"`;
    const verifyCmd = 'echo "$SLIM_CONTAINER" >> verify-cmd.log';
    const run = await cli(['build', 'slim-samples/c-hello:latest', '--tag', tag, '--host-exec', hostExec, '--verify-cmd', verifyCmd,
      '--plan-out', 'plan.json', '--output', 'docker', '--output', 'archive:hello.tar'], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/host-exec echo .*same/);
    expect(run.stdout).toMatch(/2\/2 probes equivalent/);
    expect(run.stdout).toContain(`written: docker ${tag}, archive:hello.tar`);
    // Trace run, original, slim: the host command saw each app at its own published address.
    const hostRuns = readFileSync(join(dir, 'host-exec.log'), 'utf8').trim().split('\n');
    expect(hostRuns.map((l) => l.split(' ')[1]!.replace(/-[^-]+-\d+$/, ''))).toEqual(['slim-trace', 'slim-verify-original', 'slim-verify-slim']);
    for (const line of hostRuns) expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+ /);
    expect(readFileSync(join(dir, 'verify-cmd.log'), 'utf8').trim().split('\n').map((l) => l.replace(/-[^-]+-\d+$/, ''))).toEqual(['slim-verify-original', 'slim-verify-slim']);

    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as { kept: Record<string, string[]> };
    expect(plan.kept['/usr/local/bin/hello']).toEqual(expect.arrayContaining(['entrypoint', 'traced (exec)']));
    expect(plan.kept['/usr/lib/x86_64-linux-gnu/libc.so.6'] ?? plan.kept['/usr/lib/aarch64-linux-gnu/libc.so.6']).toContain('ELF dependency of /usr/local/bin/hello');

    const id = imageId(tag);
    removeImage(tag);
    expect(execFileSync('docker', ['load', '-i', join(dir, 'hello.tar')], { encoding: 'utf8' })).toContain(`Loaded image: ${tag}`);
    expect(imageId(tag)).toBe(id);
    expect(sampleCheck('c-hello', tag).ok).toBe(true);
  });

  it('an answer the tracer changed is checked against an untraced run of the original, which the slim image matches', async () => {
    const dir = await tempDir();
    const tag = 'slim-test/shell-hello-untraced:slim';
    made.push(tag);
    // Only a traced run has slim's probe tree in it: this command answers otherwise there.
    const run = await cli(['build', 'slim-samples/c-hello:latest', '--tag', tag, '--http-probe', '/', '--exec', 'test ! -e /.slim',
      '--host-exec', 'echo "$SLIM_CONTAINER" >> runs.log'], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/^3\/3 probes equivalent$/m);
    expect(readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').map((l) => l.replace(/-[^-]+-\d+$/, ''))).toEqual(['slim-trace', 'slim-verify-slim', 'slim-verify-original']);
    const report = JSON.parse(readFileSync(join(dir, 'slim.report.json'), 'utf8')) as { verification: { originalRun: string }; probes: Array<{ name: string; status: number }> };
    expect(report.verification.originalRun).toBe('untraced');
    expect(report.probes.find((p) => p.name.startsWith('exec'))?.status).toBe(1);
  });

  it('a --verify-cmd that fails against the slim image only is a divergence (exit 3)', async () => {
    const dir = await tempDir();
    const tag = 'slim-test/shell-hello-fails:slim';
    made.push(tag);
    const run = await cli(['build', 'slim-samples/c-hello:latest', '--tag', tag, '--verify-cmd', 'case "$SLIM_CONTAINER" in *verify-slim*) exit 1;; esac'], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(3);
    expect(run.stdout).toMatch(/host-exec case .*DIFFERENT: exit code 0 vs 1/);
  });

  it('a service build with no probe at all is not verified vacuously: exit 1, the flags that add one, no image written', async () => {
    const dir = await tempDir();
    const image = 'slim-test/shell-no-port:1';
    const tag = 'slim-test/shell-no-port:slim';
    made.push(image, tag);
    execFileSync('docker', ['build', '-q', '-t', image, '-'], { input: 'FROM slim-samples/debian:bookworm\nCMD ["sleep", "30"]\n', stdio: ['pipe', 'ignore', 'inherit'] });
    // Without --continue-after probe it would be a batch run, compared by its exit code and output.
    const run = await cli(['build', image, '--tag', tag, '--continue-after', 'probe'], { cwd: dir });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/nothing was verified/);
    expect(run.stderr).toMatch(/hint: .*--http-probe .*--exec .*--no-verify/);
    expect(imageExists(tag)).toBe(false);
  });

  it('leaves no container behind', () => {
    expect(slimContainers()).toEqual([]);
  });
});
