#!/usr/bin/env node
// The slim command line: parses flags, calls the library, prints, and sets the
// exit code (0 ok, 1 error, 2 usage, 3 divergent, 130 interrupted). Nothing
// else in slim exits.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Ora } from 'ora';
import { build, buildReport, checkBuildOptions, DEFAULT_ALLOWLIST, writeReport, type BuildEvent, type BuildOptions, type BuildResult, type Stage } from './build.js';
import { compareRuns, type Comparison } from './compare.js';
import { connectionOptions, dockerEngine, type Engine } from './engine.js';
import { SlimError } from './errors.js';
import { execArgv } from './drivers/commands.js';
import { parseHttpProbeFlag, readHttpProbeFile, type HttpProbe } from './drivers/http.js';
import { buildFleet, fleetJsonReport, type FleetResult } from './fleet/fleet.js';
import { readImagesFile } from './fleet/images-file.js';
import { archiveSource } from './image/content.js';
import { clearLayerCache, layerCacheDir } from './image/layer-cache.js';
import { readImage, readImageFile, type ReadVia } from './image/read.js';
import { parseRule, readAllowlist, type Rule } from './plan/allowlist.js';
import { LANGUAGES, type Language } from './plan/languages/index.js';
import { PACK_NAMES } from './plan/packs.js';
import { OUTPUT_SYNTAX, parseOutput, type OutputTarget } from './output/outputs.js';
import { hasControl, shellQuote } from './quote.js';
import { checkTracer, probesBuilt, runWithProbes, type ContinueAfter, type Probes, type RunOverrides } from './run.js';
import { TRACER_NAMES, TRACERS, type TracerName } from './tracers/index.js';
import type { ReadyOptions } from './wait.js';
import { Cleanup, reapLeftovers } from './session.js';
import { fleetReport, singleReport } from './report/from-build.js';
import { renderHtmlReport } from './report/html.js';
import { packedExecutables } from './strip/kept.js';
import { tuneAllowlist } from './tune.js';
import { xray, type XrayReport } from './xray.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const EXIT = { error: 1, usage: 2, divergent: 3, interrupted: 130 } as const;

const cleanup = new Cleanup();
/** One session for every engine of this run: its containers carry it on each. */
const session = Math.random().toString(36).slice(2, 10);
let engineInstance: Engine | undefined;
const engine = (): Engine => (engineInstance ??= dockerEngine({ version: VERSION, session }));
/** The engines --engine names, else the default one (DOCKER_HOST). */
const enginesFrom = (hosts: string[] | undefined): Engine[] => (hosts?.length ? hosts.map((host) => dockerEngine({ version: VERSION, session, host })) : [engine()]);

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
/** Small amounts (bytes --strip saved) in kB, so they do not read as 0.0 MB. */
const size = (bytes: number) => (bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : mb(bytes));
const collect = (value: string, previous: string[] = []) => [...previous, value];

function parsePositive(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} takes a positive number`);
    return n;
  };
}

/** Counts and rounds: whole numbers. */
function parseCount(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} takes a whole number above 0`);
    return n;
  };
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a port is a whole number from 1 to 65535');
  return n;
}

function parseOutputFlag(value: string, previous: OutputTarget[] = []): OutputTarget[] {
  try {
    return [...previous, parseOutput(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** --continue-after signal ends the run at SIGUSR1: the handler is the CLI's, installed only when asked for. */
function untilSigusr1(): () => Promise<void> {
  const received = new Promise<void>((resolve) => process.once('SIGUSR1', () => resolve()));
  return async () => {
    console.error(`slim: waiting for SIGUSR1 (kill -USR1 ${process.pid}) to end the run`);
    // A signal listener does not keep Node alive; without a timer it would exit (code 13) mid-run.
    const keepAlive = setInterval(() => {}, 60_000);
    await received.finally(() => clearInterval(keepAlive));
  };
}

function parseContinueAfter(value: string): ContinueAfter {
  if (value === 'probe' || value === 'exec') return { kind: 'probe' };
  if (value === 'exit') return { kind: 'exit' };
  if (value === 'signal') return { kind: 'signal', until: untilSigusr1() };
  const timeout = /^timeout:(\d+)$/.exec(value);
  if (timeout) return { kind: 'timeout', seconds: Number(timeout[1]) };
  throw new InvalidArgumentError('use probe, exec, exit, signal or timeout:SECONDS');
}

/** A command given as one string: a JSON array as is, else words (through /bin/sh when it uses shell syntax). */
function parseCommand(value: string): string[] {
  if (!value.trim().startsWith('[')) return execArgv(value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new InvalidArgumentError(`not a JSON array: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.some((a) => typeof a !== 'string')) throw new InvalidArgumentError('a JSON command must be an array of strings');
  return parsed as string[];
}

/** NAME=VALUE, or NAME alone for the value it has here (as docker run -e does). */
function parseEnv(value: string, previous: string[] = []): string[] {
  const eq = value.indexOf('=');
  const name = eq < 0 ? value : value.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InvalidArgumentError(`'${name}' is not a variable name`);
  if (eq >= 0) return [...previous, value];
  const here = process.env[name];
  if (here === undefined) throw new InvalidArgumentError(`${name} is not set here; give ${name}=VALUE`);
  return [...previous, `${name}=${here}`];
}

/** SRC:DST[:ro]: SRC a host path (made absolute, must exist) or a volume name; DST absolute. */
function parseMount(value: string, previous: string[] = []): string[] {
  const parts = value.split(':');
  const [source, target, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || !source || !target?.startsWith('/') || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new InvalidArgumentError('use SRC:DST or SRC:DST:ro, with DST an absolute path in the container');
  }
  const isPath = source.startsWith('.') || source.includes('/');
  if (isPath && !existsSync(source)) throw new InvalidArgumentError(`${source} does not exist`);
  return [...previous, [isPath ? resolvePath(source) : source, target, ...(mode ? [mode] : [])].join(':')];
}

function parseRegex(value: string): string {
  try {
    new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(`not a regular expression: ${(err as Error).message}`);
  }
  return value;
}

function parseEngine(value: string, previous: string[] = []): string[] {
  try {
    connectionOptions(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}; ${(err as SlimError).hint}`);
  }
  return [...previous, value];
}

/** --shared-base alone: entries all images share; with a value: that share (0..1] of them. */
function parseShare(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError('a share is a number above 0 and at most 1 (0.5: half of the images)');
  return n;
}

function parseReadVia(value: string): ReadVia {
  if (value === 'auto' || value === 'layers' || value === 'save') return value;
  throw new InvalidArgumentError('use auto, layers or save');
}

const STAGE_TITLES: Record<Stage, string> = { trace: 'tracing the app', read: 'reading the image', plan: 'planning what to keep', strip: 'stripping debug sections', rebuild: 'writing the slim image', verify: 'verifying the slim image', tune: 'looking for what the slim image misses (strace)' };

/**
 * A fleet's progress: one line per image, redrawn in place on a TTY; plain
 * lines as stages end otherwise (CI logs). Notices wait until the end on a TTY.
 */
function fleetProgress(labels: string[]): { onEvent: (index: number, e: BuildEvent) => void; stop: () => void } {
  const tty = process.stderr.isTTY;
  const state = labels.map(() => 'waiting');
  const notices: string[] = [];
  const width = Math.max(...labels.map((l) => l.length));
  let drawn = 0;
  const draw = () => {
    process.stderr.write((drawn ? `\x1b[${drawn}A` : '') + labels.map((l, i) => `\x1b[2K${l.padEnd(width)}  ${state[i]}\n`).join(''));
    drawn = labels.length;
  };
  const set = (index: number, text: string, log: boolean) => {
    state[index] = text;
    if (tty) draw();
    else if (log) console.error(`slim: ${labels[index]}: ${text}`);
  };
  return {
    onEvent(index, e) {
      if (e.stage === 'notice') {
        if (tty) notices.push(`${labels[index]}: ${e.message}`);
        else console.error(`slim: ${labels[index]}: note: ${e.message}`);
      } else if (e.stage === 'run') set(index, e.event.stage, false);
      else if (e.state === 'progress') set(index, `${STAGE_TITLES[e.stage]} ${(e.done / 1e6).toFixed(0)}/${(e.total / 1e6).toFixed(0)} MB`, false);
      else if (e.state === 'start') set(index, STAGE_TITLES[e.stage], false);
      else set(index, `${STAGE_TITLES[e.stage]} done${e.detail ? `: ${e.detail}` : ''}`, true);
    },
    stop() {
      for (const n of notices.splice(0)) console.error(`slim: note: ${n}`);
    },
  };
}

/** Progress on a TTY with a spinner, plain lines otherwise (CI logs, which need not load the spinner). */
async function progress(): Promise<{ onEvent: (e: BuildEvent) => void; stop: () => void }> {
  const tty = process.stderr.isTTY;
  const ora = tty ? (await import('ora')).default : undefined;
  let spinner: Ora | undefined;
  const line = (text: string) => (ora ? spinner?.start(text) ?? (spinner = ora({ text, stream: process.stderr }).start()) : console.error(`slim: ${text}`));
  const titles = STAGE_TITLES;
  return {
    onEvent(e) {
      if (e.stage === 'notice') {
        if (tty) spinner?.warn(e.message);
        else console.error(`slim: note: ${e.message}`);
      } else if (e.stage === 'run') {
        line(`${e.event.stage}${e.event.detail ? `: ${e.event.detail}` : ''}`);
      } else if (e.state === 'progress') {
        if (tty) spinner?.start(`${titles[e.stage]} ${(e.done / 1e6).toFixed(0)}/${(e.total / 1e6).toFixed(0)} MB`);
      } else if (e.state === 'start') line(titles[e.stage]);
      else if (tty) spinner?.succeed(`${titles[e.stage]}${e.detail ? `: ${e.detail}` : ''}`);
      else console.error(`slim: ${titles[e.stage]} done${e.detail ? `: ${e.detail}` : ''}`);
    },
    stop: () => spinner?.stop(),
  };
}

interface ProbeFlags {
  httpProbe?: string[];
  httpProbeFile?: string[];
  httpCrawl?: boolean;
  httpCrawlDepth: number;
  httpCrawlPages: number;
  httpProbePort?: number;
  exec?: string[];
  hostExec?: string[];
  defaultProbe: boolean;
  readyTimeout: number;
}

/** The flags of build and tune, as commander hands them over. */
interface BuildFlags extends ProbeFlags, RunFlags {
  tag?: string;
  tracer: TracerName | 'auto';
  continueAfter?: ContinueAfter;
  includePath?: string[];
  includePathFile?: string[];
  excludePath?: string[];
  includePack?: string[];
  excludePack?: string[];
  skipLang?: string[];
  appDirs: boolean;
  verify: boolean;
  verifyProbeFile?: string[];
  verifyCmd?: string;
  planOut?: string;
  report: string;
  tune: number;
  allowlistFile: string;
  output?: OutputTarget[];
  readVia: ReadVia;
  timings?: boolean;
  imagesFile?: string[];
  jobs: number;
  /** true: --shared-base alone (every image). */
  sharedBase?: true | number;
  engine?: string[];
  strip?: boolean;
  stripExcept?: string[];
  reportHtml?: string;
}

function addProbeOptions(cmd: Command): Command {
  return cmd
    .option('--http-probe <probe>', "HTTP probe: PATH or 'METHOD PATH' (repeatable; default GET / on every exposed port)", collect)
    .option('--http-probe-file <file>', 'JSON list of probes: method, path, port, headers, body, form, expectStatus, compare, mask', collect)
    .option('--http-probe-port <port>', 'container port the HTTP probes go to', parsePort)
    .option('--http-crawl', 'follow same-origin links (a, link, script, img, GET forms) from HTML answers')
    .option('--http-crawl-depth <n>', 'how many links deep the crawl goes', parseCount('--http-crawl-depth'), 3)
    .option('--http-crawl-pages <n>', 'how many pages the crawl visits at most', parseCount('--http-crawl-pages'), 50)
    .option('--exec <cmd>', 'command run inside the running container as a probe (repeatable)', collect)
    .option('--host-exec <cmd>', 'command run on the host with SLIM_HTTP_URL etc. in its environment (repeatable)', collect)
    .option('--no-default-probe', 'do not send GET / when no HTTP probe is given')
    .option('--ready-timeout <seconds>', 'how long to wait for the app to answer', parsePositive('--ready-timeout'), 60);
}

interface RunFlags {
  readyLog?: string;
  readyExec?: string;
  readyDelay?: number;
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  mount?: string[];
  network?: string;
}

/** How the app is run and when it counts as ready; the same for the trace run and the verification runs. */
function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--ready-log <regex>', 'the app is ready when a line of its output matches', parseRegex)
    .option('--ready-exec <cmd>', 'the app is ready when this command exits 0 inside the container')
    .option('--ready-delay <seconds>', 'the app is ready after this long', parsePositive('--ready-delay'))
    .option('--cmd <cmd>', "run this instead of the image's CMD (words, or a JSON array)", parseCommand)
    .option('--entrypoint <cmd>', "run this instead of the image's ENTRYPOINT (drops its CMD, as docker run does)", parseCommand)
    .option('--env <NAME=VALUE>', 'set a variable for the run (NAME alone: its value here; repeatable)', parseEnv)
    .option('--workdir <dir>', 'working directory of the run')
    .option('--user <user>', 'user of the run (name, uid, user:group)')
    .option('--mount <src:dst>', 'mount a host directory or a volume for the run, e.g. input data (repeatable)', parseMount)
    .option('--network <name>', 'network of the run (bridge, host, none, or a network name)');
}

function runFlagsFrom(flags: RunFlags): { ready: ReadyOptions; overrides: RunOverrides } {
  return {
    ready: { log: flags.readyLog, exec: flags.readyExec, delaySeconds: flags.readyDelay },
    overrides: { cmd: flags.cmd, entrypoint: flags.entrypoint, env: flags.env, workdir: flags.workdir, user: flags.user, mounts: flags.mount, network: flags.network },
  };
}

async function probesFrom(flags: ProbeFlags): Promise<Probes> {
  const http: HttpProbe[] = (flags.httpProbe ?? []).map(parseHttpProbeFlag);
  for (const file of flags.httpProbeFile ?? []) http.push(...(await readHttpProbeFile(file)));
  if (flags.httpProbePort) for (const p of http) p.port ??= flags.httpProbePort;
  if (flags.httpProbePort && http.length === 0 && flags.defaultProbe) http.push({ method: 'GET', path: '/', port: flags.httpProbePort });
  return {
    http,
    crawl: flags.httpCrawl ? { maxDepth: flags.httpCrawlDepth, maxPages: flags.httpCrawlPages } : undefined,
    exec: flags.exec ?? [],
    hostExec: flags.hostExec ?? [],
    defaultHttp: flags.defaultProbe,
  };
}

function printComparison(c: Comparison): void {
  const rows = c.rows.map((r) => [
    r.name,
    r.original ? `${r.original.status} ${r.original.contentType?.split(';')[0] ?? ''} ${r.original.size}B` : '-',
    r.slim ? `${r.slim.status} ${r.slim.contentType?.split(';')[0] ?? ''} ${r.slim.size}B` : '-',
    r.verdict === 'same' ? 'same' : `${r.verdict.toUpperCase()}${r.why ? `: ${r.why}` : ''}`,
  ]);
  table(['probe', 'original', 'slim', 'verdict'], rows);
  const against = c.originalRun === 'traced' ? ' (the original\'s answers from its trace run)' : '';
  console.log(`${c.same}/${c.total} probes equivalent${c.equivalent ? against : ' — the slim image diverges'}`);
}

function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  console.log(fmt(head));
  console.log(fmt(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(fmt(r));
}

const program = new Command('slim')
  .description('Make container images minimal by watching what the app really touches, then prove the result behaves like the original.')
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride();

function addBuildOptions(cmd: Command, tuneRounds: number): Command {
  return addFleetOptions(addRunOptions(addProbeOptions(cmd.argument('[images...]', 'images to slim (never modified)'))))
  .option('--tag <tag>', 'tag of the slim image (default: <repo>.slim:<tag>)')
  .addOption(new Option('--tracer <name>', 'what records file accesses inside the container (--probe is the old spelling)').choices([...TRACER_NAMES, 'auto']).default('auto'))
  .addOption(new Option('--continue-after <when>', 'when tracing ends: probe, exec, exit, signal (SIGUSR1) or timeout:SECONDS (default: exit for an image without ports or probes, else probe)').argParser(parseContinueAfter))
  .option('--include-path <path>', 'keep this path or glob (directories whole; repeatable)', collect)
  .option('--include-path-file <file>', 'allowlist file: one path or glob a line, # comments, ! to exclude', collect)
  .option('--exclude-path <glob>', 'never keep paths matching this glob (repeatable)', collect)
  .option('--include-pack <name>', `force a pack on (${PACK_NAMES.join(', ')}; repeatable)`, collect)
  .option('--exclude-pack <name>', 'force a pack off (also spelled --no-include-pack; repeatable)', collect)
  .option('--skip-lang <language>', `do not keep whole packages for a language (${LANGUAGES.join(', ')}; also --no-keep-lang; repeatable)`, collect)
  .option('--no-app-dirs', "do not keep the app's own files whole: those no package installed, those its USER owns, VOLUME contents")
  .option('--no-verify', 'skip running the probes against the slim image')
  .option('--verify-probe-file <file>', 'more probes, sent only when verifying', collect)
  .option('--verify-cmd <cmd>', 'your own test command, run on the host against the slim container (SLIM_HTTP_URL set)')
  .option('--read-via <how>', 'how to read the original image: auto (its layer store, else docker save), layers or save', parseReadVia, 'auto')
  .option('--timings', "print each stage's seconds and how the image was read")
  .option('--plan-out <file>', 'write the keep plan (every path and why) as JSON')
  .option('--report <file>', 'where to write the report', 'slim.report.json')
  .option('--tune <rounds>', 'when the slim image diverges, add what it missed and build again, up to N rounds (reads the allowlist file when it exists)', parseCount('--tune'), tuneRounds)
  .option('--allowlist-file <file>', 'where tuning reads and writes what it adds (commit it next to the Dockerfile)', DEFAULT_ALLOWLIST)
  .option('--output <where>', `where the slim image goes: ${OUTPUT_SYNTAX} (repeatable; default docker)`, parseOutputFlag);
}

/** Flags of the whole run, not of one image: an --images-file line may not set them. */
const RUN_FLAGS = ['imagesFile', 'jobs', 'sharedBase', 'engine', 'report', 'reportHtml'];

function addFleetOptions(cmd: Command): Command {
  return cmd
    .option('--images-file <file>', 'images to slim, one a line followed by its own flags (repeatable)', collect)
    .option('--jobs <n>', 'builds that run at once', parseCount('--jobs'), 1)
    .option('--shared-base [share]', 'put the kept entries that all images (or this share of them, 0..1) have identically into one base layer under each', parseShare)
    .option('--engine <url>', 'engine to build on, as in DOCKER_HOST: unix:///path or tcp://HOST:PORT (repeatable: images spread over the engines that have them)', parseEngine)
    .option('--strip', 'strip debug sections from the kept ELF files')
    .option('--strip-except <path>', 'with --strip, leave this path or glob as it is (also spelled --no-strip; repeatable)', collect)
    .option('--report-html <file>', 'also write the report as one self-contained HTML page');
}

addBuildOptions(program.command('build'), 0)
  .description('trace the app, keep what it needs, write IMAGE.slim and verify it against the original')
  .action(runBuild);

addBuildOptions(program.command('tune'), 3)
  .description('build, and while the slim image diverges, add what it missed to the allowlist file and build again (reads the allowlist file when it exists)')
  .action(runBuild);

function printRounds(result: BuildResult): void {
  if (result.rounds.length < 2) return;
  console.log();
  table(['round', 'paths added', 'probes equivalent'], result.rounds.map((r) => [String(r.round), String(r.added), `${r.same}/${r.total}`]));
}

/** Everything build takes from flags and files, read and checked before the engine is asked anything. */
async function buildOptions(image: string, flags: BuildFlags): Promise<BuildOptions> {
  const rules: Rule[] = [
    ...(flags.includePath ?? []).map((p) => parseRule(p, '--include-path')),
    ...(flags.excludePath ?? []).map((p) => parseRule(p, '--exclude-path', true)),
  ];
  const allowPacks: string[] = [];
  for (const file of flags.includePathFile ?? []) {
    const list = await readAllowlist(file);
    rules.push(...list.rules);
    allowPacks.push(...list.packs);
  }
  // The tuning allowlist is read here, once, and counts from the first round.
  const allowlist = flags.tune > 0 ? tuneAllowlist(flags.allowlistFile, existsSync(flags.allowlistFile) ? await readFile(flags.allowlistFile, 'utf8') : '') : undefined;
  const offPacks = flags.excludePack ?? [];
  const offLangs = flags.skipLang ?? [];
  for (const name of [...(flags.includePack ?? []), ...allowPacks, ...(allowlist?.packs ?? []), ...offPacks]) {
    if (!PACK_NAMES.includes(name)) throw new SlimError(`unknown pack '${name}'`, { kind: 'usage', hint: `packs: ${PACK_NAMES.join(', ')}` });
  }
  for (const name of offLangs) if (!LANGUAGES.includes(name as Language)) throw new SlimError(`unknown language '${name}'`, { kind: 'usage', hint: `languages: ${LANGUAGES.join(', ')}` });
  const verifyProbes: HttpProbe[] = [];
  for (const file of flags.verifyProbeFile ?? []) verifyProbes.push(...(await readHttpProbeFile(file)));
  return {
    image,
    tag: flags.tag,
    run: { tracer: flags.tracer, probes: await probesFrom(flags), ...runFlagsFrom(flags), readyTimeoutMs: flags.readyTimeout * 1000, continueAfter: flags.continueAfter },
    plan: {
      rules,
      includePacks: [...(flags.includePack ?? []), ...allowPacks],
      excludePacks: offPacks,
      languages: new Set(LANGUAGES.filter((l) => !offLangs.includes(l))),
      appDirs: flags.appDirs,
    },
    verify: flags.verify && { probes: verifyProbes, cmd: flags.verifyCmd },
    tune: allowlist && { rounds: flags.tune, allowlist },
    outputs: flags.output,
    readVia: flags.readVia,
    strip: flags.strip ? { except: flags.stripExcept ?? [] } : undefined,
  };
}

/**
 * The command that applies the suggestions, quoted so that it pastes as one
 * command whatever the paths hold; none when an argument cannot be quoted safely.
 */
function applyHint(result: BuildResult): string | undefined {
  const words = result.suggestions.flatMap((s) => (s.line.startsWith('pack ') ? ['--include-pack', s.line.slice(5)] : ['--include-path', s.line]));
  const all = ['slim', ...process.argv.slice(2), ...words];
  return all.some(hasControl) ? undefined : all.map(shellQuote).join(' ');
}

/** The flags of an --images-file line: the command line's, with the line's own on top (repeatable ones added). */
function lineFlags(base: BuildFlags, words: string[], where: string): BuildFlags {
  if (words.length === 1) return base;
  const cmd = addBuildOptions(new Command('line'), base.tune).exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  try {
    cmd.parse(words.map(unalias), { from: 'user' });
  } catch (err) {
    throw new SlimError(`${where}: ${(err as Error).message.replace(/^error: /, '')}`, { kind: 'usage' });
  }
  if (cmd.args.length > 1) throw new SlimError(`${where}: one image a line (got ${cmd.args.join(', ')})`, { kind: 'usage' });
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(cmd.opts())) {
    if (cmd.getOptionValueSource(key) !== 'cli') continue;
    if (RUN_FLAGS.includes(key)) throw new SlimError(`${where}: --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is a flag of the whole run, not of one image`, { kind: 'usage', hint: 'give it on the command line' });
    merged[key] = Array.isArray(value) && Array.isArray(merged[key]) ? [...(merged[key] as unknown[]), ...value] : value;
  }
  return merged as unknown as BuildFlags;
}

async function runBuild(images: string[], flags: BuildFlags): Promise<void> {
  const lines = [...images.map((image) => ({ where: 'the command line', words: [image] }))];
  for (const file of (flags.imagesFile as string[] | undefined) ?? []) lines.push(...(await readImagesFile(file)));
  if (lines.length === 0) throw new SlimError('build needs an IMAGE or --images-file FILE', { kind: 'usage' });
  if (lines.length > 1 && flags.tag) throw new SlimError('--tag names one image, and this run has several', { kind: 'usage', hint: 'give each image its tag on its line of --images-file (app:1 --tag app:slim)' });
  const items = await Promise.all(lines.map((l) => buildOptions(l.words[0]!, lineFlags(flags, l.words, l.where))));
  items.forEach(checkBuildOptions);
  const tuned = items.flatMap((i) => (i.tune ? [i.tune.allowlist.file] : []));
  if (new Set(tuned).size < tuned.length) throw new SlimError('several images would tune into the same allowlist file', { kind: 'usage', hint: 'give each image its own --allowlist-file on its line of --images-file' });
  const engines = enginesFrom(flags.engine);
  if (items.length === 1 && engines.length === 1 && flags.sharedBase === undefined) await runSingle(engines[0]!, items[0]!, flags);
  else await runFleet(engines, items, flags);
}

function printStripped(result: BuildResult): void {
  if (!result.stripped) return;
  const { files, saved } = result.stripped;
  console.log(`--strip: ${size(saved)} of debug sections out of ${files.length} file(s)${files.length ? `, most from ${files.slice(0, 3).map((f) => `${f.path} (${size(f.before - f.after)})`).join(', ')}` : ''}`);
}

/** A fleet: every image built, a table of how each went, the fleet's bytes; fails when any image did. */
async function runFleet(engines: Engine[], items: BuildOptions[], flags: BuildFlags): Promise<void> {
  for (const eng of engines) await reapLeftovers(eng);
  const labels = items.map((i) => (i.tag ? `${i.image} → ${i.tag}` : i.image));
  const ui = fleetProgress(labels);
  let fleet: FleetResult;
  try {
    fleet = await buildFleet(engines, items, { jobs: flags.jobs, sharedBase: flags.sharedBase === true ? 1 : flags.sharedBase }, cleanup, ui.onEvent);
  } finally {
    ui.stop();
  }
  for (const i of fleet.images) if (i.result?.allowlist) await writeFile(i.result.allowlist.file, i.result.allowlist.text);
  await writeReport(flags.report, fleetJsonReport(fleet));
  if (flags.reportHtml) await writeFile(flags.reportHtml, renderHtmlReport(fleetReport(fleet)));
  console.log();
  const verdict = (r: BuildResult) => (!r.verification || r.verification.equivalent ? 'ok' : `DIVERGENT ${r.verification.same}/${r.verification.total}`);
  table(['image', 'engine', 'result', 'original', 'slim', 'own layer (tar)', 'why'], fleet.images.map((i) => [
    i.image, i.engine, i.result ? verdict(i.result) : 'failed',
    i.result ? mb(i.result.original.size) : '-', i.result ? mb(i.result.slim.size) : '-', i.ownBytes === undefined ? '-' : mb(i.ownBytes),
    i.error ? i.error.message.split('\n')[0]! : i.result?.stripped ? `--strip saved ${size(i.result.stripped.saved)}` : '',
  ]));
  const b = fleet.bytes;
  console.log();
  table(['fleet bytes', 'sum of image sizes', 'unique layer bytes a node stores and pulls'], [
    ['separate slim images', mb(b.withoutSharedBase.sumOfSizes), mb(b.withoutSharedBase.uniqueBytes)],
    ...(fleet.base ? [['with the shared base layer', mb(b.sumOfSizes), mb(b.uniqueBytes)]] : []),
  ]);
  if (fleet.base) console.log(`shared base layer ${fleet.base.diffId.slice(7, 19)}: ${mb(fleet.base.size)}, ${fleet.base.files} paths, under ${fleet.base.users} images`);
  else if (flags.sharedBase !== undefined) console.log('no shared base layer: the images have no kept entry in common');
  console.log(`report: ${flags.report}`);
  const failed = fleet.images.filter((i) => i.error);
  if (failed.length) {
    throw new SlimError(`${failed.length} of ${fleet.images.length} images failed: ${failed.map((i) => i.image).join(', ')}`, { hint: 'the table above says why for each; fix those and run them again' });
  }
  const divergent = fleet.images.filter((i) => i.result?.verification && !i.result.verification.equivalent);
  if (divergent.length) {
    throw new SlimError(`${divergent.length} of ${fleet.images.length} slim images diverge from their originals: ${divergent.map((i) => i.result!.tag).join(', ')}`, { kind: 'divergent', hint: `see ${flags.report}; slim tune each of them` });
  }
}

async function runSingle(eng: Engine, opts: BuildOptions, flags: BuildFlags): Promise<void> {
  const image = opts.image;
  // What killed runs left is removed while this one runs: none of it is in its way.
  const reaping = reapLeftovers(eng);
  reaping.catch(() => {}); // a build that fails first reports its own error
  const ui = await progress();
  try {
    const result = await build(eng, opts, cleanup, ui.onEvent);
    await reaping;
    ui.stop();
    // Tuning hands back the allowlist it grew; the file is written here, also when the build still diverges.
    if (result.allowlist) await writeFile(result.allowlist.file, result.allowlist.text);
    const report = buildReport(result);
    await writeReport(flags.report, report);
    if (flags.planOut) await writeReport(flags.planOut, { kept: (report as { kept: object }).kept, packs: result.plan.packs, rules: result.plan.rules, unresolved: result.plan.unresolved });
    console.log();
    table(['', 'original', 'slim'], [
      ['image', result.image, result.tag],
      ['size', mb(result.original.size), mb(result.slim.size)],
      ['files', String(result.original.files), String(result.slim.files)],
    ]);
    console.log(`reduction: ${((1 - result.slim.size / result.original.size) * 100).toFixed(1)}% (${(result.original.size / result.slim.size).toFixed(1)}x smaller), traced with ${result.tracer}`);
    console.log(`written: ${result.written.join(', ')}`);
    const sent = result.probeResults.filter((r) => r.ok).length;
    console.log(`probes answered by the original: ${sent}/${result.probeResults.length}`);
    printStripped(result);
    if (flags.reportHtml) await writeFile(flags.reportHtml, renderHtmlReport(singleReport(result)));
    if (flags.timings) console.log(`timings: ${Object.entries(result.seconds).map(([stage, s]) => `${stage} ${s.toFixed(1)}s`).join(', ')}; image read through ${result.readVia}${result.layers.via ? `; layer ${result.layers.via}` : ''}`);
    if (result.verification) {
      console.log();
      printComparison(result.verification);
      printRounds(result);
      if (!result.verification.equivalent) {
        if (result.suggestions.length) {
          console.log('\nthe slim image looked for these and did not find them (the original has them):');
          for (const s of result.suggestions) console.log(`  ${s.line}    # ${s.comment}`);
        }
        const apply = applyHint(result);
        throw new SlimError(`the slim image ${result.tag} diverges from the original on ${result.verification.total - result.verification.same} probe(s); it is kept for inspection`, {
          kind: 'divergent',
          hint: result.suggestions.length
            ? `${apply ? `apply them with: ${apply}\n      or ` : ''}let slim add them itself: slim tune ${shellQuote(image)} (writes ${flags.allowlistFile})`
            : `see ${flags.report}; keep what is missing with --include-path and build again`,
        });
      }
    }
    console.log(`report: ${flags.report}`);
  } finally {
    ui.stop();
  }
}

addRunOptions(addProbeOptions(program.command('compare').argument('<original>').argument('<slim>')))
  .description('run both images with the same probes and compare the answers side by side')
  .option('--json', 'print the comparison as JSON')
  .action(async (original: string, slim: string, flags: ProbeFlags & RunFlags & { json?: boolean }) => {
    const probes = await probesFrom(flags);
    const eng = engine();
    const base = { tracer: 'none' as const, probes, ...runFlagsFrom(flags), readyTimeoutMs: flags.readyTimeout * 1000 };
    const a = await runWithProbes(eng, original, { ...base, role: 'compare' }, cleanup);
    const b = await runWithProbes(eng, slim, { ...base, role: 'compare' }, cleanup);
    const comparison = compareRuns(a, b);
    if (flags.json) console.log(JSON.stringify(comparison, null, 2));
    else printComparison(comparison);
    if (comparison.total === 0) throw new SlimError(`nothing was verified: no probe reached ${original}`, { hint: 'add a probe: --http-probe PATH (with --http-probe-port when no port is exposed), --exec CMD or --host-exec CMD' });
    const unanswered = comparison.rows.find((r) => r.verdict === 'unanswered');
    if (unanswered) throw new SlimError(`${unanswered.name} got no answer from ${original}: ${unanswered.why}`, { hint: 'fix or drop that probe, or raise --ready-timeout' });
    if (!comparison.equivalent) throw new SlimError(`${slim} diverges from ${original}`, { kind: 'divergent' });
  });

program.command('xray')
  .argument('[image]', 'image to analyse')
  .option('--archive <file>', 'read a docker save archive instead of asking the engine')
  .option('--json', 'print the report as JSON')
  .description('show what an image is made of: layers, largest directories, waste, caches, setuid files')
  .action(async (ref: string | undefined, flags: { archive?: string; json?: boolean }) => {
    if (!ref && !flags.archive) throw new SlimError('xray needs an IMAGE or --archive FILE', { kind: 'usage' });
    await using image = cleanup.add(flags.archive ? await readImageFile(flags.archive) : await readImage(engine(), ref!));
    // The source reads the image's spooled layers; disposing it disposes the image too (twice is harmless).
    await using source = await archiveSource(image);
    const report = xray(image, source.tree);
    report.warnings.push(...(await packedExecutables(source, source.tree, source.tree.paths())));
    if (flags.json) console.log(JSON.stringify(report, null, 2));
    else printXray(report);
  });

function printXray(r: XrayReport): void {
  console.log(`${r.image} (${r.id.slice(7, 19)})`);
  console.log(`${r.files.total} entries: ${r.files.regular} files (${mb(r.files.bytes)}), ${r.files.dirs} dirs, ${r.files.symlinks} symlinks, ${r.files.hardlinked} hard links, ${r.files.devices} devices\n`);
  table(['layer', 'size', 'wasted', 'created by'], r.layers.map((l) => [String(l.index), mb(l.bytes), mb(l.wastedBytes), l.createdBy.replace(/\s+/g, ' ').slice(0, 70)]));
  console.log(`\nwasted bytes (overwritten or deleted by later layers): ${mb(r.wastedBytes)}\n`);
  table(['largest directories', 'size'], r.largestDirs.map((d) => [d.path, mb(d.bytes)]));
  if (r.caches.length) {
    console.log();
    table(['package-manager cache', 'kind', 'size'], r.caches.map((c) => [c.path, c.kind, mb(c.bytes)]));
  }
  console.log(`\nsetuid/setgid files: ${r.setuid.length ? r.setuid.join(', ') : 'none'}`);
  console.log(`file capabilities: ${r.capabilities.length ? r.capabilities.map((c) => c.path).join(', ') : 'none'}`);
  for (const warning of r.warnings) console.log(`warning: ${warning}`);
}

program.command('doctor')
  .description('check the engine, its capabilities and the probes, and say what to do about each problem')
  .option('--image <image>', 'local image to test the probes in', 'slim-samples/debian:bookworm')
  .action(async (flags: { image: string }) => {
    const eng = engine();
    const problems: string[] = [];
    let engineUp = false;
    try {
      const info = await eng.info();
      engineUp = true;
      console.log(`engine: Docker ${info.version} (API ${info.apiVersion}), storage ${info.storageDriver}, ${info.os}${info.rootless ? ', rootless' : ''}`);
      if (info.rootless) problems.push('rootless engine: tracers that need CAP_SYS_ADMIN are refused; slim build --tracer auto moves on to the next');
    } catch (err) {
      console.log(`engine: unavailable (${(err as Error).message})`);
      problems.push('start Docker: npm run engine (root on Debian/Ubuntu), or set DOCKER_HOST');
    }
    const built = probesBuilt();
    console.log(`probe binary: ${built.probe ? 'built' : 'missing'}`);
    if (!built.probe) problems.push('build the probe: npm run build (needs gcc and libc6-dev)');
    for (const name of TRACER_NAMES) {
      const tracer = TRACERS[name];
      if (tracer.bundle) console.log(`${name} bundle: ${built.tracers[name] ? 'built' : 'missing'}`);
      if (!built.tracers[name]) problems.push(tracer.bundleHint ?? `the ${name} tracer is not built`);
    }
    if (engineUp && built.probe) {
      for (const name of TRACER_NAMES.filter((n) => built.tracers[n])) {
        const { ok, detail } = await checkTracer(eng, flags.image, name, cleanup);
        console.log(`${name} in a container (CAP_${TRACERS[name].capability}): ${detail}`);
        if (!ok) problems.push(`the ${name} tracer is unavailable here: ${TRACERS[name].refusedHint}`);
      }
    }
    console.log(problems.length ? `\nto do:\n${problems.map((p) => `- ${p}`).join('\n')}` : '\nall good');
    if (problems.length) process.exitCode = EXIT.error;
  });

program.command('prune')
  .option('--all', "remove every container, import and hold slim made, not only those of runs that are gone")
  .option('--engine <url>', 'engine to prune, as in DOCKER_HOST (repeatable; default: DOCKER_HOST)', parseEngine)
  .option('--cache', "also empty slim's cache of layers' headers (~/.cache/slim/layers, or $SLIM_CACHE_DIR/layers)")
  .description('remove containers, layer imports and holds of images written ahead, left behind by slim runs that were killed')
  .action(async (flags) => {
    for (const eng of enginesFrom(flags.engine)) {
      const removed = await reapLeftovers(eng, { all: flags.all });
      const where = eng.host === 'default' ? '' : ` on ${eng.host}`;
      console.log(removed.length ? `removed ${removed.length} leftover(s)${where}: ${removed.join(', ')}` : `nothing to remove${where}`);
    }
    if (flags.cache) {
      const dir = layerCacheDir();
      console.log(`removed ${clearLayerCache(dir)} cached layer header file(s)${dir ? ` from ${dir}` : ' (SLIM_CACHE_DIR is empty: there is no cache)'}`);
    }
  });

let interrupted = false;

/** Ctrl-C: abort what runs, remove containers, let every stage unwind and clean up after itself. */
async function shutdown(signal: string): Promise<void> {
  if (interrupted) return;
  interrupted = true;
  console.error(`\nslim: ${signal}: stopping and cleaning up`);
  // Should a stage not unwind, leave anyway: containers and files are gone by then.
  setTimeout(() => process.exit(EXIT.interrupted), 20_000);
  await cleanup.run(`interrupted by ${signal}`);
}
// A reader that went away (`slim build ... | head`) does not end the build half-way, which would
// leave its containers behind: the rest of the output goes nowhere, and the build runs to its end.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));

/**
 * DockerSlim's spellings of the same features, and negations that take a value
 * (which commander cannot express), rewritten to slim's flags.
 */
const ALIASES: Record<string, string> = {
  '--no-include-pack': '--exclude-pack',
  '--no-keep-lang': '--skip-lang',
  '--http-probe-cmd': '--http-probe',
  '--exclude-pattern': '--exclude-path',
  '--include-shell': '--include-pack=shell',
  // The tracer was once called the probe; --probe stays as its deprecated spelling.
  '--probe': '--tracer',
  '--no-strip': '--strip-except',
};
function unalias(arg: string): string {
  const name = arg.split('=')[0]!;
  return ALIASES[name] ? ALIASES[name] + arg.slice(name.length) : arg;
}
const argv = process.argv.map(unalias);

try {
  await program.parseAsync(argv);
} catch (err) {
  await cleanup.run();
  if (err instanceof CommanderError) {
    // commander has printed the message (or the help); only the exit code is ours.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT.usage;
    process.exit();
  }
  if (!interrupted) {
    const e = err instanceof SlimError ? err : new SlimError((err as Error).message ?? String(err));
    console.error(`slim: ${e.message}`);
    if (e.hint) console.error(`hint: ${e.hint}`);
    process.exitCode = EXIT[e.kind];
  }
}
await cleanup.run();
if (interrupted) process.exit(EXIT.interrupted);
