// slim build: trace run → keep plan → rebuild → verify. Each stage is its own
// module; this one only joins them and reports progress as events.
import { writeFile } from 'node:fs/promises';
import type { ContainerConfig } from './image-config.js';
import { compareRuns, type Comparison } from './compare.js';
import { engineLost, type Engine } from './engine.js';
import { SlimError } from './errors.js';
import { showPath } from './paths.js';
import { runHostCommand } from './drivers/commands.js';
import type { HttpProbe } from './drivers/http.js';
import { answered, type ProbeResult } from './drivers/result.js';
import { checkImageRef, openImage, requireImage, splitTag, type ReadVia } from './image/read.js';
import type { ImageSource } from './image/content.js';
import { withHeadCache } from './image/head-cache.js';
import type { FileTree } from './image/tree.js';
import type { LayerShape } from './image/write.js';
import { planKeep, warmPlan, type KeepPlan, type PlanOptions } from './plan/plan.js';
import { loadAhead, nameAhead, rebuild, type WrittenAhead } from './rebuild.js';
import type { LayerVia, OutputTarget } from './output/outputs.js';
import { keptFiles } from './report/from-build.js';
import type { KeptFile } from './report/html.js';
import { packedExecutables, stripKept, type StrippedFile } from './strip/kept.js';
import { TracerRefusedError, runWithProbes, type RunEvent, type RunOptions, type RunResult } from './run.js';
import type { Cleanup } from './session.js';
import { addSuggestions, suggest, tuneAllowlist, type Suggestion, type TuneAllowlist } from './tune.js';
import { sameTrace, traceToJson, type Trace } from './trace/trace.js';
import { TRACER_NAMES, TRACERS, type TracerName } from './tracers/index.js';

/** The trace run as the user asked for it: everything a run takes but its role, with auto for the tracer. */
export type TraceRunOptions = Omit<RunOptions, 'tracer' | 'role' | 'tolerateExit' | 'afterProbes' | 'stopTimeoutSeconds'> & {
  /** auto: the first tracer of TRACERS the engine allows. */
  tracer: TracerName | 'auto';
};

/** What the user decides about the keep plan; the rest of PlanOptions comes from the image. */
export type KeepOptions = Pick<PlanOptions, 'rules' | 'includePacks' | 'excludePacks' | 'languages' | 'appDirs'>;

export interface VerifyOptions {
  /** More probes for verification only (--verify-probe-file). */
  probes: HttpProbe[];
  /** The user's own test command, run on the host against the slim container. */
  cmd?: string;
}

export interface TuneOptions {
  /** Extra rounds that add what the slim image missed, when it diverges (--tune N). */
  rounds: number;
  /** The allowlist tuning starts from and adds to (its file is the CLI's business). */
  allowlist: TuneAllowlist;
}

export interface BuildOptions {
  image: string;
  tag?: string;
  run: TraceRunOptions;
  plan: KeepOptions;
  /** false: --no-verify. */
  verify: VerifyOptions | false;
  tune?: TuneOptions;
  /** Where the slim image goes (default: loaded into the engine under the tag). */
  outputs?: OutputTarget[];
  /** How to read the original's files: its layer store (when the engine allows), or docker save. */
  readVia?: ReadVia;
  /** --strip: debug sections out of the kept ELF files, except those matching these paths or globs (--no-strip). */
  strip?: { except: string[] };
  /** Where the slim layer goes (a fleet's shared base), given the kept paths and the stripped bytes. */
  shapeLayer?: (kept: Set<string>, image: ImageSource, replaced: Map<number, Buffer>) => Promise<LayerShape>;
}

export type Stage = 'trace' | 'read' | 'plan' | 'strip' | 'rebuild' | 'verify' | 'tune';

export type BuildEvent =
  | { stage: Stage; state: 'start' | 'done'; detail?: string }
  | { stage: Stage; state: 'progress'; done: number; total: number }
  | { stage: 'run'; event: RunEvent }
  | { stage: 'notice'; message: string };

export interface BuildResult {
  image: string;
  tag: string;
  id: string;
  tracer: TracerName;
  original: { size: number; files: number };
  slim: { size: number; files: number };
  plan: KeepPlan;
  trace: Trace;
  probeResults: ProbeResult[];
  verification?: Comparison;
  seconds: Record<string, number>;
  /** One row per build round: paths added before it, probes equivalent after it. */
  rounds: TuneRound[];
  /** What the slim image still misses, when it diverges. */
  suggestions: Suggestion[];
  /** The tuning allowlist after the last round, when tuning added to it. */
  allowlist?: TuneAllowlist;
  /** Where the slim image was written ("docker app.slim:latest", "oci:DIR", ...). */
  written: string[];
  /** How the original was read (layer directories, or docker save and why). */
  readVia: string;
  /** The image's environment (redacted in the report). */
  env: string[];
  /** Odd layer contents found while flattening. */
  imageWarnings: string[];
  /** The slim image's layers: its own layer's bytes, and the shared base under it with the base entries it hides. */
  layers: { own: number; base?: { diffId: string; size: number; whiteouts: number }; via?: LayerVia };
  /** What --strip took out, per file. */
  stripped?: { files: StrippedFile[]; saved: number };
  /** Every kept path with its bytes in the slim image and why it is kept. */
  kept: KeptFile[];
}

export interface TuneRound {
  round: number;
  added: number;
  same: number;
  total: number;
}

/** The allowlist file tuning writes unless told otherwise. */
export const DEFAULT_ALLOWLIST = 'slim.allow';

export const defaultSlimTag = (image: string): string => {
  const { repo, tag } = splitTag(image);
  return `${repo}.slim:${tag}`;
};

/**
 * The untraced runs that verify: exactly the probes the trace run sent (crawled
 * pages included), the verify-only ones, and the user's command after them.
 */
function verificationRun(traced: RunResult, opts: BuildOptions, verify: VerifyOptions): Omit<RunOptions, 'role'> {
  const sent = traced.results.flatMap((r) => (r.probe ? [r.probe] : []));
  const cmd = verify.cmd;
  return {
    tracer: 'none',
    probes: { http: [...sent, ...verify.probes], exec: opts.run.probes.exec, hostExec: opts.run.probes.hostExec, defaultHttp: false },
    ready: opts.run.ready,
    readyTimeoutMs: opts.run.readyTimeoutMs,
    overrides: opts.run.overrides,
    // The same run on both images: a batch job runs to its end again, a service is stopped after the probes.
    continueAfter: traced.ranToExit ? { kind: 'exit' } : { kind: 'probe' },
    afterProbes: cmd ? async (env, teardown) => [await runHostCommand(cmd, env, { signal: teardown })] : undefined,
  };
}

/** The plan's options: the image's runtime config, the user's keep options, and the tuning allowlist so far. */
function planOptions(config: ContainerConfig, keep: KeepOptions, allowlist: TuneAllowlist | undefined): PlanOptions {
  return {
    entrypoint: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
    env: config.Env ?? [],
    workdir: config.WorkingDir ?? '',
    user: config.User ?? '',
    volumes: Object.keys(config.Volumes ?? {}),
    ...keep,
    rules: [...keep.rules, ...(allowlist?.rules ?? [])],
    includePacks: [...new Set([...keep.includePacks, ...(allowlist?.packs ?? [])])],
  };
}

/** The keep plan, and among its warnings the kept executables a packer hides from the ELF closure. */
async function planWarned(image: ImageSource & { tree: FileTree }, trace: Trace, options: PlanOptions): Promise<KeepPlan> {
  const plan = await planKeep(image.tree, trace, options, image);
  plan.warnings.push(...(await packedExecutables(image, image.tree, plan.paths.keys())));
  return plan;
}

/** Whether two plans keep the same paths, which is all an image written from a plan depends on. */
const keepsTheSame = (a: KeepPlan | undefined, b: KeepPlan): boolean => a?.paths.size === b.paths.size && [...b.paths.keys()].every((path) => a.paths.has(path));

/** The slim run's answers beside the original's; undefined when the original left a probe unanswered (nothing to compare with). */
function compareWithOriginal(original: RunResult, slim: RunResult | Error): Comparison | undefined {
  if (original.results.some((r) => !answered(r))) return undefined;
  if (!(slim instanceof Error)) return compareRuns(original, slim);
  const error = `the slim image did not run: ${slim.message.split('\n')[0]}`;
  // -1: no exit code and no HTTP status, so not even a status-only comparison can call it the same.
  return compareRuns(original, { results: original.results.map((o) => ({ ...o, status: -1, size: 0, digest: '', ok: false, excerpt: '', error })), logs: '' });
}

/** A run to its end is itself compared (exit code, output); a service needs a probe or a command. */
const sendsNothing = ({ probes, afterProbes, continueAfter }: Omit<RunOptions, 'role'>): boolean =>
  continueAfter?.kind !== 'exit' && probes.http.length + probes.exec.length + probes.hostExec.length === 0 && !afterProbes;

const NOTHING_VERIFIED = 'add a probe the app answers: --http-probe PATH (with --http-probe-port for an image that exposes no port), --exec CMD, --host-exec CMD or --verify-cmd CMD; --continue-after exit for a job that runs to its end (its exit code and output are compared); or skip verification with --no-verify';

const DEFAULT_OUTPUTS: OutputTarget[] = [{ kind: 'docker' }];

/** Options that contradict each other, found before the engine is asked anything. */
export function checkBuildOptions(opts: BuildOptions): void {
  if (opts.tag) checkImageRef(opts.tag);
  if ((opts.tune?.rounds ?? 0) > 0 && !opts.verify) throw new SlimError('--tune needs verification, and --no-verify turns it off', { kind: 'usage', hint: 'drop one of --tune and --no-verify' });
  if (opts.verify && !(opts.outputs ?? DEFAULT_OUTPUTS).some((o) => o.kind === 'docker')) {
    throw new SlimError('verification runs the slim image in the engine, and no --output loads it there', { kind: 'usage', hint: 'add --output docker, or skip verification with --no-verify' });
  }
}

/** The tracer that sees what a slim image looked for and did not find. */
function lookupTracer(): TracerName {
  const name = TRACER_NAMES.find((n) => TRACERS[n].seesMissing);
  if (!name) throw new SlimError('no tracer sees failed lookups, which tuning needs');
  return name;
}

export async function build(engine: Engine, opts: BuildOptions, cleanup: Cleanup, onEvent: (e: BuildEvent) => void = () => {}): Promise<BuildResult> {
  try {
    return await buildStages(engine, opts, cleanup, onEvent);
  } catch (err) {
    throw (await engineLost(engine, err)) ?? err;
  }
}

async function buildStages(engine: Engine, opts: BuildOptions, cleanup: Cleanup, onEvent: (e: BuildEvent) => void): Promise<BuildResult> {
  const seconds: Record<string, number> = {};
  const timed = async <T>(stage: Stage, fn: () => Promise<T>, detail?: (r: T) => string): Promise<T> => {
    onEvent({ stage, state: 'start' });
    const start = performance.now();
    const result = await fn();
    seconds[stage] = Math.round((seconds[stage] ?? 0) * 1000 + performance.now() - start) / 1000;
    onEvent({ stage, state: 'done', detail: detail?.(result) });
    return result;
  };
  checkBuildOptions(opts);
  const verify = opts.verify;
  const tuneRounds = opts.tune?.rounds ?? 0;
  const outputs = opts.outputs ?? DEFAULT_OUTPUTS;
  const source = await requireImage(engine, opts.image);
  const tag = opts.tag ?? defaultSlimTag(opts.image);
  if (tag === opts.image || source.repoTags.includes(tag)) {
    throw new SlimError(`--tag ${tag} names the original image; slim never overwrites it`, { kind: 'usage', hint: 'choose another --tag' });
  }

  const onRun = (event: RunEvent) => onEvent({ stage: 'run', event });
  // The image is read while the app is traced: neither needs the other. A build that fails
  // early stops the read too (through docker save it could take long).
  const stopReading = new AbortController();
  const readSignal = AbortSignal.any([cleanup.signal, stopReading.signal]);
  // It starts at once: the read yields to the event loop every few milliseconds, so the engine's
  // answers while the app's container is created and started wait for it no longer than that, and
  // the plan's warm-up gets the time until the probes are done (started after the container, the read
  // left django's warm-up half a second and c-hello's none; its builds took 0.1-0.2 s longer).
  const reading = openImage(engine, source.id, { via: opts.readVia, signal: readSignal }).then(withHeadCache);
  // Tracked from the moment it exists, so that Ctrl-C during the trace removes its helper container too.
  reading.then((image) => cleanup.add(image), () => {});
  // What the plan reads whatever the trace says is read while the app runs, and no longer.
  const traceEnded = new AbortController();
  reading.then((image) => warmPlan(image.tree, image, AbortSignal.any([traceEnded.signal, stopReading.signal])), () => {});
  // The app's stop (a graceful one can take a second) and the plan need not wait for each other: the
  // plan of the trace as it stood after the probes is made while the app stops, and taken when the
  // stop touched nothing more.
  // So is the image of that plan, when its layer depends on the plan alone (not stripped, on no
  // shared base) and it goes into the engine: it is put there under a hold of this run's, and the rebuild names it.
  const writesAhead = outputs.some((o) => o.kind === 'docker') && !opts.strip && !opts.shapeLayer;
  const stopWritingAhead = new AbortController();
  let early: { trace: Trace; plan: Promise<KeepPlan>; written?: Promise<WrittenAhead | undefined> } | undefined;
  let traceCollected = false;
  /** The original's verification run: once, whatever the rounds. */
  let originalRun: Promise<RunResult> | undefined;
  const onProbed = (trace: Trace) => {
    if (traceCollected) return;
    // From here the plan reads what it needs, ahead of the warm-up's guesses.
    traceEnded.abort();
    const plan = reading.then((image) => planWarned(image, trace, planOptions(image.config.config ?? {}, opts.plan, opts.tune?.allowlist)));
    plan.catch(() => {}); // a plan that is not taken may fail unseen
    const signal = AbortSignal.any([cleanup.signal, stopWritingAhead.signal]);
    // Failing here costs only the head start: the rebuild writes the image itself.
    const written = writesAhead ? Promise.all([reading, plan]).then(([image, p]) => loadAhead(engine, { ...image, ref: opts.image }, p.paths.keys(), signal)).catch(() => undefined) : undefined;
    early = { trace, plan, written };
  };
  try {
    const traceWith = async (tracer: TracerName) => runWithProbes(engine, source.id, { ...opts.run, tracer, role: 'trace', onProbed }, cleanup, onRun);
    const traced = await timed('trace', async () => {
      // auto tries the tracers in order and moves on when the engine refuses one's capability.
      const candidates = opts.run.tracer === 'auto' ? TRACER_NAMES : [opts.run.tracer];
      for (const [index, tracer] of candidates.entries()) {
        try {
          return { tracer, run: await traceWith(tracer) };
        } catch (err) {
          const next = candidates[index + 1];
          if (!(err instanceof TracerRefusedError) || !next) throw err;
          onEvent({ stage: 'notice', message: `the engine refused CAP_${TRACERS[tracer].capability} (rootless?): ${tracer} is unavailable, tracing with ${next} instead` });
        }
      }
      throw new SlimError('no tracer to try');
    }, (t) => `${t.run.trace!.paths.size} paths with ${t.tracer}`);
    traceCollected = true;
    traceEnded.abort();
    const trace = traced.run.trace!;
    // A server error the probe did not ask for means the app, not slim, is broken.
    const failed = traced.run.results.filter((r) => !r.ok || (r.kind === 'http' && r.status >= 500 && (r.probe?.expectStatus ?? 0) < 500));
    if (failed.length > 0 && failed.length === traced.run.results.length) {
      const first = failed[0]!;
      throw new SlimError(`every probe failed against the original image (${first.name}: ${first.error ?? `status ${first.status}`}); a trace of a broken run would not show how the app works\n--- last lines of the app's log ---\n${traced.run.logs.trimEnd().split('\n').slice(-30).join('\n')}`, {
        hint: 'check the probe paths and ports (--http-probe, --http-probe-port), raise --ready-timeout, or set expectStatus in --http-probe-file for a deliberate error page',
      });
    }
    const verifyRun = verify ? verificationRun(traced.run, opts, verify) : undefined;
    // Checked before the slim image is written: a proof with nothing in it proves nothing.
    if (verifyRun && sendsNothing(verifyRun)) {
      throw new SlimError(`nothing was verified: no probe reached ${opts.image} (it exposes no port, and no command was given)`, { hint: NOTHING_VERIFIED });
    }

    // The trace run sent the original every probe verification sends, unless verification adds its
    // own: then its answers are the original's, and the original is run again, untraced, only to
    // confirm a difference, so that nothing the tracer changes (strace's pace, a line it makes the
    // app log) counts against the slim image.
    const tracedOriginal = verify && verify.probes.length === 0 && !verify.cmd ? traced.run : undefined;
    const untracedOriginal = (): Promise<RunResult> => {
      if (!originalRun) {
        originalRun = runWithProbes(engine, source.id, { ...verifyRun!, role: 'verify-original' }, cleanup, onRun);
        originalRun.catch(() => {}); // awaited by verification, or in the end when the build fails
      }
      return originalRun;
    };
    // Its answers depend on nothing the plan decides: they are taken while the image is planned and written.
    if (verifyRun && !tracedOriginal) void untracedOriginal();

    const image = await timed('read', () => reading, (i) => `${i.tree.size} paths through ${i.via}`);
    const tree = image.tree;
    if (image.fallback) onEvent({ stage: 'notice', message: `the image was read through docker save: ${image.fallback}` });
    for (const warning of tree.warnings) onEvent({ stage: 'notice', message: warning });
    const config = image.config.config ?? {};

    const rounds: TuneRound[] = [];
    // The tuning allowlist counts from round 1: what earlier runs added is kept now.
    let allowlist = opts.tune?.allowlist;
    let added: Suggestion[] = [];
    for (let round = 1; ; round++) {
      const planned = round === 1 && early && sameTrace(early.trace, trace) ? early.plan : undefined;
      const plan = await timed('plan', () => planned ?? planWarned(image, trace, planOptions(config, opts.plan, allowlist)), (p) => `${p.paths.size} of ${tree.size} paths kept${planned ? ' (planned while the app stopped)' : ''}`);
      // What stopping touched may change no kept path (a server's shutdown, now and then): the image
      // written ahead is the kept paths' alone, so it holds. Else it is not wanted: it stops, and goes in the end.
      const taken = round === 1 && early && (planned || keepsTheSame(await early.plan.catch(() => undefined), plan)) ? early : undefined;
      if (!taken) stopWritingAhead.abort();
      if (round === 1) {
        for (const warning of plan.warnings) onEvent({ stage: 'notice', message: warning });
        for (const u of plan.unresolved) onEvent({ stage: 'notice', message: `unresolved library ${u.library} needed by ${showPath(u.neededBy)}` });
      }
      const onBytes = (done: number, total: number) => onEvent({ stage: 'rebuild', state: 'progress', done, total });
      const strip = opts.strip;
      const stripped = strip ? await timed('strip', () => stripKept(image, tree, plan.paths.keys(), strip.except), (s) => `${s.files.length} files, ${s.saved} bytes saved`) : undefined;
      const replaced = stripped?.replaced ?? new Map<number, Buffer>();
      const shape = opts.shapeLayer ? await opts.shapeLayer(new Set(plan.paths.keys()), image, replaced) : { replaced };
      const written = await timed('rebuild', async () => {
        // Written ahead: named, or found in the engine by the rebuild rather than written a second time beside it.
        const ahead = await taken?.written;
        const done = ahead && outputs.every((o) => o.kind === 'docker')
          ? await nameAhead(engine, ahead, tag)
          : await rebuild(engine, { ...image, ref: opts.image }, plan.paths.keys(), tag, outputs, cleanup.signal, onBytes, shape);
        // Named here, the layer went in the way the image written ahead took, and while the app stopped.
        if (ahead?.id !== done.id) return done;
        return { ...done, layerVia: ahead.layerVia === 'already in the engine' ? ahead.layerVia : 'written while the app stopped' as const };
      }, (r) => `${r.written.join(', ')} (${r.id.slice(7, 19)}${r.layerVia === 'written while the app stopped' ? `, ${r.layerVia}` : ''})`);
      const rebuilt = { ...written, base: shape.base && { diffId: shape.base.diffId, size: shape.base.size, whiteouts: shape.whiteouts?.length ?? 0 } };
      const slimInfo = rebuilt.loaded ? await engine.inspectImage(rebuilt.id) : undefined;
      const result: BuildResult = {
        image: opts.image, tag, id: rebuilt.id, tracer: traced.tracer,
        original: { size: source.size, files: tree.size },
        slim: { size: slimInfo?.size ?? rebuilt.layerBytes, files: rebuilt.files },
        plan, trace, probeResults: traced.run.results, seconds, rounds, suggestions: [], env: config.Env ?? [], imageWarnings: tree.warnings,
        written: rebuilt.written,
        readVia: image.fallback ? `${image.via} (${image.fallback})` : image.via,
        allowlist: added.length ? allowlist : undefined,
        layers: { own: rebuilt.layerBytes, base: rebuilt.base, via: rebuilt.layerVia },
        kept: keptFiles(tree, plan.paths, replaced),
        stripped: stripped && { files: stripped.files, saved: stripped.saved },
      };
      if (!verifyRun) return result;

      const verification = await timed('verify', async () => {
        const slimRun = () => runWithProbes(engine, rebuilt.id, { ...verifyRun, role: 'verify-slim' }, cleanup, onRun).catch((err: Error) => err);
        let slim: RunResult | Error | undefined;
        if (tracedOriginal && !originalRun) {
          slim = await slimRun();
          const comparison = compareWithOriginal(tracedOriginal, slim);
          if (comparison?.equivalent) return { ...comparison, originalRun: 'traced' as const };
        }
        // Original and slim run side by side, unless they share a writable mount (a batch job's
        // output directory): then they take turns. Both settle before anything is thrown.
        const sharesWritable = (verifyRun.overrides?.mounts ?? []).some((m) => !m.endsWith(':ro'));
        const [original, slimResult] = await Promise.allSettled([
          untracedOriginal(),
          slim ?? (sharesWritable ? untracedOriginal().then(slimRun, (err: Error) => err) : slimRun()),
        ]).then(([o, s]) => {
          if (o.status === 'rejected') throw o.reason;
          return [o.value, (s as PromiseFulfilledResult<RunResult | Error>).value] as const;
        });
        const comparison = compareWithOriginal(original, slimResult);
        if (!comparison) {
          const unanswered = original.results.find((r) => !answered(r))!;
          throw new SlimError(`verifying: ${unanswered.name} got no answer from the original image (${unanswered.error ?? `status ${unanswered.status}`}), so there is nothing to compare the slim image's answer with`, {
            hint: 'fix or drop that probe (--http-probe, --verify-probe-file, --exec, --host-exec, --verify-cmd), or raise --ready-timeout',
          });
        }
        return { ...comparison, originalRun: 'untraced' as const };
      }, (c) => `${c.same}/${c.total} probes equivalent`);
      result.verification = verification;
      rounds.push({ round, added: added.length, same: verification.same, total: verification.total });
      if (verification.equivalent) return result;

      // What did the slim image look for and not find? strace on the slim image, same probes.
      const diverging = verification.rows.filter((r) => r.verdict !== 'same').map((r) => r.name);
      const tuneTrace = await timed('tune', async () => (await runWithProbes(engine, rebuilt.id, { ...verifyRun, tracer: lookupTracer(), role: 'tune', tolerateExit: true }, cleanup, onRun)).trace!);
      result.suggestions = suggest(tree, tuneTrace, new Set(plan.paths.keys()), opts.plan.languages, diverging);
      if (round > tuneRounds || result.suggestions.length === 0) return result;

      const next = addSuggestions(allowlist ?? tuneAllowlist(DEFAULT_ALLOWLIST, ''), result.suggestions);
      if (next.added.length === 0) return result;
      allowlist = next.list;
      added = next.added;
      onEvent({ stage: 'notice', message: `round ${round + 1}: adding ${added.map((a) => a.line).join(', ')}` });
    }
  } finally {
    stopReading.abort();
    stopWritingAhead.abort();
    // The original's verification run (once, for every round) ends before the build does: its container is gone before an error is seen.
    await originalRun?.catch(() => {});
    // Unless a rebuild named it, the image written ahead goes with its hold.
    const ahead = await early?.written;
    if (ahead) await engine.removeImage(ahead.hold).catch(() => {});
    // A reader that cannot be disposed (the engine went away) must not hide why the build ended.
    await reading.then(async (image) => {
      cleanup.delete(image);
      await image[Symbol.asyncDispose]();
    }).catch(() => {});
  }
}

const REDACT = /(PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH)/i;

/** The report written as slim.report.json: sizes, every kept path with its reasons, probe results. */
export function buildReport(result: BuildResult): object {
  return {
    format: 'slim-report/1',
    image: result.image,
    slimImage: { tag: result.tag, id: result.id, written: result.written },
    tracer: result.tracer,
    sizes: { original: result.original, slim: result.slim, reduction: 1 - result.slim.size / result.original.size },
    seconds: result.seconds,
    readVia: result.readVia,
    env: result.env.map((e) => (REDACT.test(e.split('=')[0]!) ? `${e.split('=')[0]}=<redacted>` : e)),
    packs: result.plan.packs,
    keepRules: result.plan.rules,
    layers: result.layers,
    stripped: result.stripped,
    unresolvedLibraries: result.plan.unresolved.map((u) => ({ library: u.library, neededBy: showPath(u.neededBy) })),
    warnings: [...result.imageWarnings, ...result.plan.warnings],
    rounds: result.rounds,
    suggestions: result.suggestions,
    probes: result.probeResults,
    verification: result.verification,
    kept: Object.fromEntries([...result.plan.paths].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, r]) => [showPath(p), r])),
    trace: traceToJson(result.trace),
  };
}

export async function writeReport(file: string, report: object): Promise<void> {
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
}
