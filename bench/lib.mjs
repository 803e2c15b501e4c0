// Shared by the benchmarks: timing, the engine, sample images. Benchmarks print
// ratios measured in one run; they assert nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = dirname(dirname(fileURLToPath(import.meta.url)));
export const dist = (module) => import(join(root, 'dist', module));

export function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts }).trim();
}

export async function time(fn) {
  const start = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - start) / 1000, value };
}

export const timeCommand = (cmd, args) => {
  const start = performance.now();
  const run = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (run.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
  return (performance.now() - start) / 1000;
};

export function ensureSamples(...names) {
  execFileSync('bash', [join(root, 'scripts', 'build-samples.sh'), ...names], { stdio: 'inherit' });
}

export const fmt = (n, digits = 2) => n.toFixed(digits);

/**
 * Waits out the time after deletions during which creating files is slow. On an
 * ext4 without a journal (this project's CI machine) the inode allocator passes
 * over every inode freed in the last minute, and in the last six while the
 * inode table block is dirty, which a burst of new files makes it: a
 * `docker load` or `tar x` of django's slim layer into the engine's layer
 * directory took 2.6-5.9 s within minutes of an `rmi` of the same files and
 * 0.3 s where nothing had been deleted, while `docker save` creates nothing.
 * The benchmarks delete nothing before a timed write (each fresh write keeps a
 * file more than the one before, so its layer is new without removing the
 * last), and wait once at the start for deletions made before them, not longer
 * than that: this VM gives its page cache back when idle, and a long wait makes
 * every read cold. BENCH_SETTLE=SECONDS changes the wait (0 skips it).
 */
export async function settle() {
  const seconds = Number(process.env.BENCH_SETTLE ?? 90);
  if (!(seconds > 0)) return;
  sh('sync', []);
  console.error(`bench: letting the disk settle for ${seconds}s after earlier deletions (BENCH_SETTLE=0 skips)`);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/**
 * Files every Debian image has and no keep rule keeps (documentation), one per kind of timed
 * build: --include-path of one makes that build's layer new without deleting the last, and one
 * no other image has (the demo's slim image has the plain plan's layer).
 */
export const VARIANT_PATHS = { build: '/usr/share/doc/base-files/FAQ', load: '/usr/share/doc/base-files/README.FHS', noVerify: '/usr/share/doc/base-files/copyright' };

/**
 * Seconds the engine alone takes to store a slim image of `image` whose layer it
 * does not have: `cli` writes it to a file, keeping one file more than the timed
 * builds (so the layer is new without deleting theirs), and `docker load` stores
 * it under `tag`. `flags` are the build's probe flags.
 */
export function engineLoadSeconds(cli, image, tag, dir, flags = []) {
  const archive = join(dir, 'load.tar');
  sh(process.execPath, [cli, 'build', image, '--tag', tag, '--no-verify', '--output', `archive:${archive}`, '--include-path', VARIANT_PATHS.load, '--report', join(dir, 'load.json'), ...flags], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
  return timeCommand('docker', ['load', '-q', '-i', archive]);
}

/** Removes images by tag, quietly (some may not exist). */
export const removeImages = (tags) => spawnSync('docker', ['rmi', ...tags], { stdio: 'ignore' });

/**
 * Seconds one run of the original takes the engine and the app alone, the way a trace run
 * drives it: create, start, ready (how slim's probe would first get an answer), stop with the
 * image's stop signal; the removal is left out (slim does it in the background). `probe` is the
 * sample's: `{ port }` for an HTTP app, `{ port, exec }` for a command probe, `{ binds }` for a
 * batch job that runs to its end. What any tool that watches the app spends before its own work.
 */
export async function appRunSeconds(image, probe) {
  const start = performance.now();
  // --init: an init forwards the stop signal to the app, as slim-probe does (PID 1 itself is deaf to it without a handler).
  const id = sh('docker', ['create', '--init', ...(probe.port ? ['-p', `127.0.0.1::${probe.port}`] : []), ...(probe.binds ?? []).flatMap((b) => ['-v', b]), image]);
  try {
    sh('docker', ['start', id]);
    if (probe.binds) {
      sh('docker', ['wait', id]);
    } else {
      const ready = probe.exec ? async () => spawnSync('docker', ['exec', id, 'sh', '-c', probe.exec], { stdio: 'ignore' }).status === 0 : await httpAnswers(id, probe.port);
      for (const deadline = Date.now() + 60_000; !(await ready()); ) {
        if (Date.now() > deadline) throw new Error(`${image} was not ready within 60 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      sh('docker', ['stop', id]);
    }
    return (performance.now() - start) / 1000;
  } finally {
    spawnSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
  }
}

/** Whether container `id` answers HTTP on `port`: asked only once the port listens inside (docker-proxy would hold the request), as slim's http wait does. */
async function httpAnswers(id, port) {
  const hostPort = sh('docker', ['port', id, `${port}/tcp`]).split('\n')[0].split(':').pop();
  const [pid, sandbox] = sh('docker', ['inspect', '-f', '{{.State.Pid}} {{.NetworkSettings.SandboxKey}}', id]).split(' ');
  const listening = await (await dist('listen-table.js')).listenTableOf(Number(pid), sandbox);
  return async () => {
    if (listening && !(await listening()).has(Number(port))) return false;
    // A timer of its own: AbortSignal.timeout's does not keep the process alive while a request waits.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5000);
    return fetch(`http://127.0.0.1:${hostPort}/`, { redirect: 'manual', signal: controller.signal }).then(() => true, () => false).finally(() => clearTimeout(timer));
  };
}
