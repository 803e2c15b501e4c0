// On the real engine: a file the app only checks for (a stat, which fanotify does
// not see) is dropped, the app warns about it, and that warning alone makes the
// slim image diverge; tuning finds the file and the next round is equivalent.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, imageExists, removeImage } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

const IMAGE = 'slim-test/logs-warns:1';
const SLIM = 'slim-test/logs-warns:slim';
const DOCKERFILE = `FROM slim-samples/c-hello:latest
USER root
RUN mkdir -p /etc/app && echo 'colour=blue' > /etc/app/optional.conf
USER nobody
ENTRYPOINT ["/bin/sh", "-c", "[ -f /etc/app/optional.conf ] || echo 'warning: /etc/app/optional.conf is missing, using defaults' >&2; exec /usr/local/bin/hello 8080"]
CMD []
`;

beforeAll(() => {
  execFileSync('docker', ['build', '-q', '-t', IMAGE, '-'], { input: DOCKERFILE, stdio: ['pipe', 'ignore', 'inherit'] });
});
afterAll(() => [IMAGE, SLIM].forEach(removeImage));

describe('the app log in the verdict', () => {
  it('a warning only the slim image prints is a divergence that names the file, and tuning mends it', async () => {
    const dir = await tempDir();
    const run = await cli(['build', IMAGE, '--tag', SLIM], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(3);
    expect(run.stdout).toMatch(/app log .*DIFFERENT: new in the slim image's log: "warning: \/etc\/app\/optional\.conf is missing/);
    expect(run.stdout).toMatch(/\(names \/etc\/app\/optional\.conf\)/);
    expect(run.stdout).toMatch(/1\/2 probes equivalent/);
    const first = execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', SLIM], { encoding: 'utf8' }).trim();

    const tuned = await cli(['build', IMAGE, '--tag', SLIM, '--tune', '2'], { cwd: dir });
    expect(tuned.code, tuned.stderr + tuned.stdout).toBe(0);
    expect(tuned.stdout).toMatch(/1\/1 probes equivalent/);
    expect(execFileSync('cat', [`${dir}/slim.allow`], { encoding: 'utf8' })).toMatch(/^\/etc\/app\/optional\.conf$/m);
    // The image the tag named before is gone with its tag, not left behind untagged.
    expect(imageExists(first)).toBe(false);
  });
});
