// slim build: trace run → keep plan → rebuild → verify. Each stage is its own
// module; this one only joins them and reports progress as events.
import { writeFile } from 'node:fs/promises';
import { compareResults, type Comparison } from './compare.js';
import { engineLost, type Engine } from './engine.js';
import { SlimError, showPath } from './errors.js';
import { runHostCommand } from './drivers/commands.js';
import type { HttpProbe, ProbeResult } from './drivers/http.js';
import { checkImageRef, openImage, requireImage, splitTag, type ReadVia } from './image/read.js';
import { parseAllowlist, type Rule } from './plan/allowlist.js';
import type { Language } from './plan/languages/index.js';
import { planKeep, type KeepPlan } from './plan/plan.js';
import type { ImageSource } from './image/content.js';
import type { LayerShape } from './image/write.js';
import { rebuild } from './rebuild.js';
import { keptFiles } from './report/from-build.js';
import type { KeptFile } from './report/html.js';
import { packedExecutables, stripKept, type StrippedFile } from './strip/kept.js';
import { TracerRefusedError, runWithProbes, type ContinueAfter, type Probes, type RunEvent, type RunOptions, type RunOverrides } from './run.js';
import type { Cleanup } from './session.js';
import { mergeAllowlist, readTextIfExists, suggest, writeAllowlist, type Suggestion } from './tune.js';
import { traceToJson, type Trace } from './trace/trace.js';
import { TRACER_NAMES, TRACERS, type TracerName } from './tracers/index.js';
import type { ReadyOptions } from './wait.js';

export interface BuildOptions {
  image: string;
  tag?: string;
  /** auto: the first tracer of TRACERS the engine allows. */
  tracer: TracerName | 'auto';
  probes: Probes;
  ready?: ReadyOptions;
  readyTimeoutMs: number;
  continueAfter?: ContinueAfter;
  /** The trace run's and the verification runs' overrides of the image config (--cmd, --mount, ...). */
  overrides?: RunOverrides;
  rules: Rule[];
  includePacks: string[];
  excludePacks: string[];
  languages: Set<Language>;
  appDirs: boolean;
  verify: boolean;
  /** More probes for verification only (--verify-probe-file). */
  verifyProbes: HttpProbe[];
  /** The user's own test command, run on the host against the slim container. */
  verifyCmd?: string;
  /** Extra rounds that add what the slim image missed, when it diverges (--tune N). */
  tune: number;
  /** Where tuning writes its suggestions (an allowlist users commit). */
  allowlistFile?: string;
  /** How to read the original's files: its layer store (when the engine allows), or docker save. */
  readVia?: ReadVia;
  /** Simulates an engine that refuses the tracer's capability (tests). */
  grantCapability?: boolean;
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
  /** How the original's files were read, and why docker save when it was not wanted. */
  readVia: string;
  /** One row per build round: paths added before it, probes equivalent after it. */
  rounds: TuneRound[];
  /** What the slim image still misses, when it diverges. */
  suggestions: Suggestion[];
  /** The image's environment (redacted in the report). */
  env: string[];
  /** Odd layer contents found while flattening. */
  imageWarnings: string[];
  /** The slim image's layers: its own layer's bytes, and the shared base under it. */
  layers: { own: number; base?: { diffId: string; size: number } };
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

export const defaultSlimTag = (image: string): string => {
  const { repo, tag } = splitTag(image);
  return `${repo}.slim:${tag}`;
};

/** Probes that verification sends: exactly what the trace run sent (crawled pages included), plus verify-only ones. */
function verificationProbes(results: ProbeResult[], opts: BuildOptions): Probes {
  const sent = results.flatMap((r) => (r.probe ? [r.probe] : []));
  return { http: [...sent, ...opts.verifyProbes], exec: opts.probes.exec, hostExec: opts.probes.hostExec, defaultHttp: false };
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
  if (opts.tag) checkImageRef(opts.tag);
  if (opts.tune > 0 && !opts.verify) throw new SlimError('--tune needs verification, and --no-verify turns it off', { kind: 'usage', hint: 'drop one of --tune and --no-verify' });
  const source = await requireImage(engine, opts.image);
  const tag = opts.tag ?? defaultSlimTag(opts.image);
  if (tag === opts.image || source.repoTags.includes(tag)) {
    throw new SlimError(`--tag ${tag} names the original image; slim never overwrites it`, { kind: 'usage', hint: 'choose another --tag' });
  }

  const runOpts = (tracer: TracerName): RunOptions => ({
    tracer, probes: opts.probes, ready: opts.ready, readyTimeoutMs: opts.readyTimeoutMs, continueAfter: opts.continueAfter, overrides: opts.overrides, role: 'trace', grantCapability: opts.grantCapability,
  });
  const onRun = (event: RunEvent) => onEvent({ stage: 'run', event });
  // The image is read while the app is traced: neither needs the other.
  const reading = openImage(engine, source.id, { via: opts.readVia, signal: cleanup.signal });
  reading.catch(() => {}); // awaited below, or disposed when tracing fails
  const traced = await timed('trace', async () => {
    // auto tries the tracers in order and moves on when the engine refuses one's capability.
    const candidates = opts.tracer === 'auto' ? TRACER_NAMES : [opts.tracer];
    for (const [index, tracer] of candidates.entries()) {
      try {
        return { tracer, run: await runWithProbes(engine, source.id, runOpts(tracer), cleanup, onRun) };
      } catch (err) {
        const next = candidates[index + 1];
        if (!(err instanceof TracerRefusedError) || !next) throw err;
        onEvent({ stage: 'notice', message: `the engine refused CAP_${TRACERS[tracer].capability} (rootless?): ${tracer} is unavailable, tracing with ${next} instead` });
      }
    }
    throw new SlimError('no tracer to try');
  }, (t) => `${t.run.trace!.paths.size} paths with ${t.tracer}`).catch(async (err: unknown) => {
    await reading.then((image) => image[Symbol.asyncDispose](), () => {});
    throw err;
  });
  const trace = traced.run.trace!;
  // A server error the probe did not ask for means the app, not slim, is broken.
  const failed = traced.run.results.filter((r) => !r.ok || (r.kind === 'http' && r.status >= 500 && (r.probe?.expectStatus ?? 0) < 500));
  if (failed.length > 0 && failed.length === traced.run.results.length) {
    const first = failed[0]!;
    throw new SlimError(`every probe failed against the original image (${first.name}: ${first.error ?? `status ${first.status}`}); a trace of a broken run would not show how the app works\n--- last lines of the app's log ---\n${traced.run.logs.trimEnd()}`, {
      hint: 'check the probe paths and ports (--http-probe, --http-probe-port), raise --ready-timeout, or set expectStatus in --http-probe-file for a deliberate error page',
    });
  }

  const image = cleanup.add(await timed('read', () => reading, (i) => `${i.tree.size} paths through ${i.via}`));
  try {
    const tree = image.tree;
    if (image.fallback) onEvent({ stage: 'notice', message: `the image was read through docker save: ${image.fallback}` });
    for (const warning of tree.warnings) onEvent({ stage: 'notice', message: warning });
    const config = image.config.config ?? {};
    const verifyProbes = verificationProbes(traced.run.results, opts);
    const verifyCmd = opts.verifyCmd;
    const verifyRun = {
      tracer: 'none' as const, probes: verifyProbes, ready: opts.ready, readyTimeoutMs: opts.readyTimeoutMs, overrides: opts.overrides,
      // The same run on both images: a batch job runs to its end again, a service is stopped after the probes.
      continueAfter: (traced.run.ranToExit ? { kind: 'exit' } : { kind: 'probe' }) as ContinueAfter,
      afterProbes: verifyCmd ? async (env: Record<string, string>) => [await runHostCommand(verifyCmd, env)] : undefined,
    };
    // The original does not change between rounds: its answers are taken once.
    let originalAnswers: Promise<ProbeResult[]> | undefined;

    const rounds: TuneRound[] = [];
    let rules = opts.rules;
    let includePacks = opts.includePacks;
    let added: Suggestion[] = [];
    for (let round = 1; ; round++) {
      const plan = await timed('plan', () => planKeep(tree, trace, {
        entrypoint: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
        env: config.Env ?? [],
        workdir: config.WorkingDir ?? '',
        user: config.User ?? '',
        volumes: Object.keys(config.Volumes ?? {}),
        rules,
        includePacks,
        excludePacks: opts.excludePacks,
        languages: opts.languages,
        appDirs: opts.appDirs,
      }, image), (p) => `${p.paths.size} of ${tree.size} paths kept`);
      if (round === 1) {
        plan.warnings.push(...(await packedExecutables(image, tree, plan.paths.keys())));
        for (const warning of plan.warnings) onEvent({ stage: 'notice', message: warning });
        for (const u of plan.unresolved) onEvent({ stage: 'notice', message: `unresolved library ${u.library} needed by ${showPath(u.neededBy)}` });
      }
      // The original's answers do not depend on the slim image: they are taken while it is written.
      if (opts.verify) originalAnswers ??= runWithProbes(engine, source.id, { ...verifyRun, role: 'verify-original' }, cleanup, onRun).then((r) => r.results);
      originalAnswers?.catch(() => {}); // awaited by verification, or below when the rebuild fails
      const strip = opts.strip;
      const stripped = strip ? await timed('strip', () => stripKept(image, tree, plan.paths.keys(), strip.except), (s) => `${s.files.length} files, ${s.saved} bytes saved`) : undefined;
      const replaced = stripped?.replaced ?? new Map<number, Buffer>();
      const rebuilt = await (async () => {
        const shape = opts.shapeLayer ? await opts.shapeLayer(new Set(plan.paths.keys()), image, replaced) : { replaced };
        const written = await timed('rebuild', () => rebuild(engine, { ...image, ref: opts.image }, plan.paths.keys(), tag, cleanup.signal, (done, total) => onEvent({ stage: 'rebuild', state: 'progress', done, total }), shape), (r) => `${tag} (${r.id.slice(7, 19)})`);
        return { ...written, base: shape.base && { diffId: shape.base.diffId, size: shape.base.size } };
      })().catch(async (err: unknown) => {
        await originalAnswers?.catch(() => {}); // its containers are gone before the error is
        throw err;
      });
      const slimInfo = await engine.inspectImage(rebuilt.id);
      const result: BuildResult = {
        image: opts.image, tag, id: rebuilt.id, tracer: traced.tracer,
        original: { size: source.size, files: tree.size },
        slim: { size: slimInfo?.size ?? rebuilt.layerBytes, files: rebuilt.files },
        plan, trace, probeResults: traced.run.results, seconds, readVia: image.fallback ? `${image.via} (${image.fallback})` : image.via, rounds, suggestions: [], env: config.Env ?? [], imageWarnings: tree.warnings,
        layers: { own: rebuilt.layerBytes, base: rebuilt.base },
        kept: keptFiles(tree, plan.paths, replaced),
        stripped: stripped && { files: stripped.files, saved: stripped.saved },
      };
      if (!opts.verify) return result;

      const verification = await timed('verify', async () => {
        // Original and slim run side by side.
        const [original, slim] = await Promise.all([
          originalAnswers!,
          runWithProbes(engine, rebuilt.id, { ...verifyRun, role: 'verify-slim' }, cleanup, onRun).then((r) => r.results, (err: Error) => err),
        ]);
        const error = slim instanceof Error ? `the slim image did not run: ${slim.message.split('\n')[0]}` : '';
        return compareResults(original, slim instanceof Error ? original.map((o) => ({ ...o, status: 0, size: 0, digest: '', ok: false, excerpt: '', error })) : slim);
      }, (c) => `${c.same}/${c.total} probes equivalent`);
      result.verification = verification;
      rounds.push({ round, added: added.length, same: verification.same, total: verification.total });
      if (verification.equivalent) return result;

      // What did the slim image look for and not find? strace on the slim image, same probes.
      const diverging = verification.rows.filter((r) => r.verdict !== 'same').map((r) => r.name);
      const tuneTrace = await timed('tune', async () => (await runWithProbes(engine, rebuilt.id, { ...verifyRun, tracer: lookupTracer(), role: 'tune', tolerateExit: true }, cleanup, onRun)).trace!);
      result.suggestions = suggest(tree, tuneTrace, new Set(plan.paths.keys()), opts.languages, diverging);
      if (round > opts.tune || result.suggestions.length === 0) return result;

      const file = opts.allowlistFile;
      const existing = file ? await readTextIfExists(file) : '';
      const merged = mergeAllowlist(existing, result.suggestions, file ?? 'suggestions');
      if (merged.added.length === 0) return result;
      if (file) await writeAllowlist(file, merged.text);
      added = merged.added;
      const list = parseAllowlist(merged.text, file ?? 'suggestions');
      rules = [...opts.rules, ...list.rules];
      includePacks = [...new Set([...opts.includePacks, ...list.packs])];
      onEvent({ stage: 'notice', message: `round ${round + 1}: adding ${added.map((a) => a.line).join(', ')}` });
    }
  } finally {
    await image[Symbol.asyncDispose]();
    cleanup.delete(image);
  }
}

const REDACT = /(PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH)/i;

/** The report written as slim.report.json: sizes, every kept path with its reasons, probe results. */
export function buildReport(result: BuildResult): object {
  return {
    format: 'slim-report/1',
    image: result.image,
    slimImage: { tag: result.tag, id: result.id },
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
