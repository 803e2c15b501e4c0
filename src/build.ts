// slim build: trace run → keep plan → rebuild → verify. Each stage is its own
// module; this one only joins them and reports progress as events.
import { writeFile } from 'node:fs/promises';
import { compareResults, type Comparison } from './compare.js';
import type { Engine } from './engine.js';
import { SlimError, showPath } from './errors.js';
import { runHostCommand } from './drivers/commands.js';
import type { HttpProbe, ProbeResult } from './drivers/http.js';
import { flatten } from './image/archive.js';
import { imageContent } from './image/content.js';
import { checkImageRef, readImage, splitTag } from './image/read.js';
import type { Rule } from './plan/allowlist.js';
import type { Language } from './plan/languages.js';
import { planKeep, type KeepPlan } from './plan/plan.js';
import { rebuild } from './rebuild.js';
import { ProbeRefusedError, runWithProbes, type ContinueAfter, type Probes, type RunEvent } from './run.js';
import type { Cleanup } from './session.js';
import { traceToJson, type ProbeKind, type Trace } from './trace/trace.js';

export interface BuildOptions {
  image: string;
  tag?: string;
  probe: ProbeKind | 'auto';
  probes: Probes;
  readyTimeoutMs: number;
  continueAfter: ContinueAfter;
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
  /** Simulates an engine that refuses the tracer's capability (tests). */
  grantCapability?: boolean;
}

export type BuildEvent =
  | { stage: 'trace' | 'read' | 'plan' | 'rebuild' | 'verify'; state: 'start' | 'done'; detail?: string }
  | { stage: 'run'; event: RunEvent }
  | { stage: 'notice'; message: string };

export interface BuildResult {
  image: string;
  tag: string;
  id: string;
  probe: ProbeKind;
  original: { size: number; files: number };
  slim: { size: number; files: number };
  plan: KeepPlan;
  trace: Trace;
  probeResults: ProbeResult[];
  verification?: Comparison;
  seconds: Record<string, number>;
}

export const defaultSlimTag = (image: string): string => {
  const { repo, tag } = splitTag(image);
  return `${repo}.slim:${tag}`;
};

/** Probes that verification sends: exactly what the trace run sent (crawled pages included), plus verify-only ones. */
function verificationProbes(results: ProbeResult[], opts: BuildOptions): Probes {
  const sent = new Set(results.map((r) => r.name));
  const fromTrace = opts.probes.http.filter((p) => sent.has(p.name ?? `${p.method} ${p.path}${p.port ? ` :${p.port}` : ''}`));
  const crawled = results.filter((r) => r.kind === 'http' && r.name.endsWith('(crawl)')).map((r) => {
    const path = r.name.slice(4, -' (crawl)'.length);
    return { method: 'GET', path, name: r.name } satisfies HttpProbe;
  });
  const defaults = opts.probes.http.length === 0 && opts.probes.defaultHttp;
  return { http: [...fromTrace, ...crawled, ...opts.verifyProbes], exec: opts.probes.exec, hostExec: opts.probes.hostExec, defaultHttp: defaults };
}

export async function build(engine: Engine, opts: BuildOptions, cleanup: Cleanup, onEvent: (e: BuildEvent) => void = () => {}): Promise<BuildResult> {
  const seconds: Record<string, number> = {};
  const timed = async <T>(stage: 'trace' | 'read' | 'plan' | 'rebuild' | 'verify', fn: () => Promise<T>, detail?: (r: T) => string): Promise<T> => {
    onEvent({ stage, state: 'start' });
    const start = performance.now();
    const result = await fn();
    seconds[stage] = Math.round(performance.now() - start) / 1000;
    onEvent({ stage, state: 'done', detail: detail?.(result) });
    return result;
  };
  checkImageRef(opts.image);
  if (opts.tag) checkImageRef(opts.tag);
  const source = await engine.inspectImage(opts.image);
  if (!source) throw new SlimError(`reading image ${opts.image}: the engine has no such image`, { hint: `build or load it first (docker build -t ${opts.image} .)` });
  const tag = opts.tag ?? defaultSlimTag(opts.image);
  if (tag === opts.image || source.repoTags.includes(tag)) {
    throw new SlimError(`--tag ${tag} names the original image; slim never overwrites it`, { kind: 'usage', hint: 'choose another --tag' });
  }

  const runOpts = (tracer: ProbeKind) => ({
    tracer, probes: opts.probes, readyTimeoutMs: opts.readyTimeoutMs, continueAfter: opts.continueAfter, role: 'trace', grantCapability: opts.grantCapability,
  });
  const onRun = (event: RunEvent) => onEvent({ stage: 'run', event });
  const traced = await timed('trace', async () => {
    const first: ProbeKind = opts.probe === 'auto' ? 'fanotify' : opts.probe;
    try {
      return { probe: first, run: await runWithProbes(engine, source.id, runOpts(first), cleanup, onRun) };
    } catch (err) {
      if (!(err instanceof ProbeRefusedError) || opts.probe !== 'auto') throw err;
      onEvent({ stage: 'notice', message: 'the engine refused CAP_SYS_ADMIN (rootless?): fanotify is unavailable, tracing with strace instead (slower)' });
      return { probe: 'strace' as ProbeKind, run: await runWithProbes(engine, source.id, runOpts('strace'), cleanup, onRun) };
    }
  }, (t) => `${t.run.trace!.paths.size} paths with ${t.probe}`);
  const trace = traced.run.trace!;
  const failedProbes = traced.run.results.filter((r) => !r.ok);
  if (failedProbes.length > 0 && failedProbes.length === traced.run.results.length) {
    throw new SlimError(`every probe failed against the original image (${failedProbes[0]!.name}: ${failedProbes[0]!.error}); the trace would not show how the app works`, {
      hint: 'check the probe paths and ports (--http-probe, --http-probe-port), or raise --ready-timeout',
    });
  }

  const image = cleanup.add(await timed('read', () => readImage(engine, source.id)));
  try {
    const tree = await timed('read', () => flatten(image));
    const config = image.config.config ?? {};
    await using content = imageContent(image);
    const plan = await timed('plan', () => planKeep(tree, trace, {
      entrypoint: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
      env: config.Env ?? [],
      workdir: config.WorkingDir ?? '',
      user: config.User ?? '',
      volumes: Object.keys(config.Volumes ?? {}),
      rules: opts.rules,
      includePacks: opts.includePacks,
      excludePacks: opts.excludePacks,
      languages: opts.languages,
      appDirs: opts.appDirs,
    }, content), (p) => `${p.paths.size} of ${tree.size} paths kept`);
    for (const warning of plan.warnings) onEvent({ stage: 'notice', message: warning });
    for (const u of plan.unresolved) onEvent({ stage: 'notice', message: `unresolved library ${u.library} needed by ${showPath(u.neededBy)}` });

    const slimImage = { ...image, ref: opts.image };
    const rebuilt = await timed('rebuild', () => rebuild(engine, slimImage, tree, plan.paths.keys(), tag), (r) => `${tag} (${r.id.slice(7, 19)})`);
    const slimInfo = await engine.inspectImage(rebuilt.id);

    let verification: Comparison | undefined;
    if (opts.verify) {
      verification = await timed('verify', async () => {
        const probes = verificationProbes(traced.run.results, opts);
        const verifyCmd = opts.verifyCmd;
        const hostCheck = verifyCmd ? async (env: Record<string, string>) => [await runHostCommand(verifyCmd, env)] : undefined;
        const base = { tracer: 'none' as const, probes, readyTimeoutMs: opts.readyTimeoutMs, continueAfter: { kind: 'probe' } as ContinueAfter, afterProbes: hostCheck };
        const original = await runWithProbes(engine, source.id, { ...base, role: 'verify-original' }, cleanup, onRun);
        const slim = await runWithProbes(engine, rebuilt.id, { ...base, role: 'verify-slim' }, cleanup, onRun).catch((err: Error) => {
          throw new SlimError(`the slim image ${tag} does not run like the original: ${err.message}`, { kind: 'divergent', hint: 'inspect it with docker run; add the missing files with --include-path and build again' });
        });
        return compareResults(original.results, slim.results);
      }, (c) => `${c.same}/${c.total} probes equivalent`);
    }

    return {
      image: opts.image,
      tag,
      id: rebuilt.id,
      probe: traced.probe,
      original: { size: source.size, files: tree.size },
      slim: { size: slimInfo?.size ?? rebuilt.layerBytes, files: rebuilt.files },
      plan,
      trace,
      probeResults: traced.run.results,
      verification,
      seconds,
    };
  } finally {
    await image[Symbol.asyncDispose]();
    cleanup.delete(image);
  }
}

const REDACT = /(PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH)/i;

/** The report written as slim.report.json: sizes, every kept path with its reasons, probe results. */
export function buildReport(result: BuildResult, env: string[] = []): object {
  return {
    format: 'slim-report/1',
    image: result.image,
    slimImage: { tag: result.tag, id: result.id },
    probe: result.probe,
    sizes: { original: result.original, slim: result.slim, reduction: 1 - result.slim.size / result.original.size },
    seconds: result.seconds,
    env: env.map((e) => (REDACT.test(e.split('=')[0]!) ? `${e.split('=')[0]}=<redacted>` : e)),
    packs: result.plan.packs,
    unresolvedLibraries: result.plan.unresolved.map((u) => ({ library: u.library, neededBy: showPath(u.neededBy) })),
    warnings: result.plan.warnings,
    probes: result.probeResults,
    verification: result.verification,
    kept: Object.fromEntries([...result.plan.paths].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, r]) => [showPath(p), r])),
    trace: traceToJson(result.trace),
  };
}

export async function writeReport(file: string, report: object): Promise<void> {
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
}
