// Helpers for tests on the real engine: the CLI as a user runs it, and leftovers checks.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { dockerEngine, holdLabels, PID_LABEL } from '../src/engine.js';
import type { ImageSource } from '../src/image/content.js';
import { Cleanup } from '../src/session.js';
import { afterEach } from 'vitest';

export const engine = dockerEngine({ version: 'test' });

/** A Cleanup for a test file's runs, run after each test: a run's container is removed once it has ended, in the background. */
export function cleanupAfterEach(): Cleanup {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());
  return cleanup;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Processes whose containers are ours: this test process and the CLIs it started (others may share the engine). */
const ourPids = new Set([process.pid]);

/** Starts dist/cli.js (built by `npm test`) with arguments. */
export function startCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, [new URL('../dist/cli.js', import.meta.url).pathname, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid) ourPids.add(child.pid);
  return child;
}

/** Runs the CLI to its end; `onStderr` sees the progress as it comes. */
export function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; onStderr?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = startCli(args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
      opts.onStderr?.(stderr, child);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * IDs of slim's labelled objects that a docker listing (`ps -a`, `images`) finds and these
 * tests made. The pid label is read through inspect: `docker images --format` has no .Label.
 */
function ours(list: string[]): string[] {
  const listed = spawnSync('docker', [...list, '-q', '--no-trunc', '--filter', 'label=io.slim.tool=slim'], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`docker ${list.join(' ')}: ${listed.stderr}`);
  const ids = [...new Set(listed.stdout.split('\n').filter(Boolean))];
  if (ids.length === 0) return [];
  // One that went meanwhile makes inspect fail, and is left out of what it prints.
  return spawnSync('docker', ['inspect', '--format', '{{.Id}} {{index .Config.Labels "io.slim.pid"}}', ...ids], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)
    .map((line) => line.split(' ')).filter(([, pid]) => ourPids.has(Number(pid))).map(([id]) => id!);
}

/** Containers slim made for these tests that still exist. */
export const slimContainers = (): string[] => ours(['ps', '-a']);

/** Images slim made on the way to others (layer imports) for these tests that still exist. */
export const slimImports = (): string[] => ours(['images']);

/** Names that hold images written ahead (Engine.holdImage) for these tests, still there. */
export const slimHolds = (): string[] =>
  spawnSync('docker', ['images', '--filter', 'reference=slim-pending/*', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' }).stdout.split('\n')
    .filter((ref) => ourPids.has(Number(holdLabels(ref)?.[PID_LABEL])));

/** sha256 of every regular file's bytes, by path, streamed the way the writer reads them. */
export async function contentDigests(source: ImageSource): Promise<Map<string, string>> {
  const files = [...source.tree.values()].filter((e) => e.type === 'file');
  const digests = new Map<string, string>();
  let next = 0;
  for await (const bytes of source.files(files)) {
    const hash = createHash('sha256');
    for await (const chunk of bytes) hash.update(chunk);
    digests.set(files[next++]!.path, hash.digest('hex'));
  }
  return digests;
}

/** Containers this test file's engine session made that still exist (other runs may share the engine). */
export const sessionContainers = (): string[] =>
  spawnSync('docker', ['ps', '-aq', '--filter', `label=io.slim.session=${engine.session}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);

export const imageExists = (ref: string): boolean => spawnSync('docker', ['image', 'inspect', ref], { stdio: 'ignore' }).status === 0;

export function sampleCheck(name: string, image: string): { ok: boolean; output: string } {
  const run = spawnSync(process.execPath, [new URL('../sample-apps/check.mjs', import.meta.url).pathname, name, image], { encoding: 'utf8' });
  return { ok: run.status === 0, output: run.stdout + run.stderr };
}

export function removeImage(ref: string): void {
  spawnSync('docker', ['rmi', '-f', ref], { stdio: 'ignore' });
}
