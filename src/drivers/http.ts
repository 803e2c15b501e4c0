// HTTP probes: requests sent to the app's ports published on 127.0.0.1, with
// an optional same-origin crawl. Each response is reduced to what a later run
// is compared on: status, content type, size and a digest of the masked body.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import { SlimError } from '../errors.js';
import type { ProbeResult } from './result.js';

export interface HttpProbe {
  method: string;
  path: string;
  /** Container port; defaults to the first exposed one. */
  port?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Form fields, sent urlencoded; with formFrom, merged over the hidden fields of that page's first form. */
  form?: Record<string, string>;
  formFrom?: string;
  expectStatus?: number;
  /** 'status' compares only the status code (for pages with volatile bodies). */
  compare?: 'full' | 'status';
  /** Regexes whose matches are blanked before the body is digested. */
  mask?: string[];
  name?: string;
}

export interface CrawlOptions {
  maxDepth: number;
  maxPages: number;
}

/**
 * fetch with a deadline whose timer keeps the process alive: AbortSignal.timeout's
 * timer is unref'd, and a request that docker-proxy accepted but the app never
 * answers holds no other handle, so Node would exit mid-run (code 13).
 */
export async function fetchWithin(url: string, init: RequestInit, timeoutMs: number): Promise<{ res: Response; body: Buffer }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  try {
    const res = await fetch(url, { ...init, signal: controller.signal });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  } finally {
    clearTimeout(timer);
  }
}

/** Volatile parts of responses blanked by default, so that equal pages compare equal. */
export const DEFAULT_MASKS = [
  'name="csrfmiddlewaretoken" value="[^"]*"',
  'csrf[-_]?token[=:]\\s*"?[A-Za-z0-9_\\-]+',
  '\\b\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:?\\d{2}| ?[A-Z]{2,5})?',
  '\\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\b',
  '\\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT',
];

export function digestBody(body: Buffer, masks: string[]): { digest: string; masked: string } {
  let text = body.toString('latin1');
  for (const mask of masks) text = text.replace(new RegExp(mask, 'g'), '<masked>');
  return { digest: `sha256:${createHash('sha256').update(text, 'latin1').digest('hex')}`, masked: text };
}

/** Parses --http-probe values: "PATH" or "METHOD PATH". */
export function parseHttpProbeFlag(value: string): HttpProbe {
  const parts = value.trim().split(/\s+/);
  const [method, path] = parts.length === 1 ? ['GET', parts[0]!] : [parts[0]!.toUpperCase(), parts[1]!];
  if (parts.length > 2 || !path.startsWith('/') || !/^[A-Z]+$/.test(method)) {
    throw new SlimError(`--http-probe '${value}': expected PATH or 'METHOD PATH', e.g. / or 'POST /api/items'`, { kind: 'usage' });
  }
  return { method, path };
}

/**
 * The line of a JSON syntax error. Node 20 does not say where the error is:
 * the shortest prefix that fails for a reason other than ending early ends there.
 */
export function jsonErrorLine(text: string): number {
  const failsInside = (n: number) => {
    try {
      JSON.parse(text.slice(0, n));
      return false;
    } catch (err) {
      // A prefix cut short fails "at position n" (its end) or says it ended: that is not the error.
      const message = (err as Error).message;
      return !/end of JSON input|Unterminated/i.test(message) && Number(/at position (\d+)/.exec(message)?.[1] ?? -1) !== n;
    }
  };
  let [lo, hi] = [0, text.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (failsInside(mid)) hi = mid;
    else lo = mid + 1;
  }
  return text.slice(0, lo).split('\n').length;
}

const PROBE_KEYS = new Set(['method', 'path', 'port', 'headers', 'body', 'form', 'formFrom', 'expectStatus', 'compare', 'mask', 'name']);

/** Reads a probe file: a JSON list of probes. Errors name the file and entry. */
export async function readHttpProbeFile(file: string): Promise<HttpProbe[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new SlimError(`--http-probe-file ${file}: cannot read the file`, { kind: 'usage', hint: 'pass the path of a JSON file listing probes' });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new SlimError(`${file}:${jsonErrorLine(text)}: not valid JSON (${(err as Error).message})`, { kind: 'usage', hint: 'the file holds a JSON list like [{"method": "GET", "path": "/"}]' });
  }
  if (!Array.isArray(data)) throw new SlimError(`${file}: expected a JSON list of probes`, { kind: 'usage' });
  return data.map((entry, i) => {
    const where = `${file}: probe ${i + 1}`;
    if (typeof entry !== 'object' || entry === null) throw new SlimError(`${where}: expected an object`, { kind: 'usage' });
    const probe = entry as Record<string, unknown>;
    const unknown = Object.keys(probe).filter((k) => !PROBE_KEYS.has(k));
    if (unknown.length) throw new SlimError(`${where}: unknown field '${unknown[0]}'`, { kind: 'usage', hint: `fields: ${[...PROBE_KEYS].join(', ')}` });
    const bad = (message: string) => new SlimError(`${where}: ${message}`, { kind: 'usage', hint: 'e.g. {"method": "POST", "path": "/items", "port": 8080, "headers": {"accept": "text/html"}, "expectStatus": 201, "mask": ["id=\\\\d+"]}' });
    const stringMap = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
    if (typeof probe.path !== 'string' || !probe.path.startsWith('/')) throw bad(`'path' must be a string starting with /`);
    if (probe.method !== undefined && (typeof probe.method !== 'string' || !/^[A-Za-z]+$/.test(probe.method))) throw bad(`'method' must be an HTTP method such as "GET" or "POST"`);
    if (probe.port !== undefined && !(Number.isInteger(probe.port) && (probe.port as number) >= 1 && (probe.port as number) <= 65535)) throw bad(`'port' must be a whole number from 1 to 65535`);
    if (probe.expectStatus !== undefined && !(Number.isInteger(probe.expectStatus) && (probe.expectStatus as number) >= 100 && (probe.expectStatus as number) <= 599)) throw bad(`'expectStatus' must be an HTTP status from 100 to 599`);
    if (probe.headers !== undefined && !stringMap(probe.headers)) throw bad(`'headers' must be an object of string values`);
    if (probe.form !== undefined && !stringMap(probe.form)) throw bad(`'form' must be an object of string values`);
    for (const key of ['body', 'name'] as const) if (probe[key] !== undefined && typeof probe[key] !== 'string') throw bad(`'${key}' must be a string`);
    if (probe.formFrom !== undefined && (typeof probe.formFrom !== 'string' || !probe.formFrom.startsWith('/'))) throw bad(`'formFrom' must be a path starting with /`);
    if (probe.compare !== undefined && probe.compare !== 'full' && probe.compare !== 'status') throw bad(`'compare' is 'full' or 'status'`);
    if (probe.mask !== undefined && !(Array.isArray(probe.mask) && probe.mask.every((m) => typeof m === 'string'))) throw bad(`'mask' must be a list of regular expressions (strings)`);
    for (const m of (probe.mask as string[] | undefined) ?? []) {
      try {
        new RegExp(m);
      } catch {
        throw bad(`mask '${m}' is not a valid regular expression`);
      }
    }
    return { ...(probe as unknown as HttpProbe), method: String(probe.method ?? 'GET').toUpperCase() };
  });
}

/** Cookies set by responses, sent back on later requests of the same run. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      if (eq > 0) this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
  header(): string | undefined {
    return this.cookies.size ? [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
  }
}

const hiddenFields = (html: string): Record<string, string> => {
  const form = /<form[\s\S]*?<\/form>/i.exec(html)?.[0] ?? '';
  const fields: Record<string, string> = {};
  for (const input of form.match(/<input[^>]*>/gi) ?? []) {
    const name = /name="([^"]*)"/i.exec(input)?.[1];
    if (name && /type="hidden"/i.test(input)) fields[name] = /value="([^"]*)"/i.exec(input)?.[1] ?? '';
  }
  return fields;
};

/** Same-origin links of an HTML page: a, link, script, img, and GET forms. */
export function extractLinks(html: string, fromPath: string): string[] {
  const links = new Set<string>();
  const base = new URL(fromPath, 'http://app.invalid');
  const add = (ref: string) => {
    try {
      const url = new URL(ref.replace(/&amp;/g, '&'), base);
      if (url.origin === base.origin) links.add(url.pathname + url.search);
    } catch {
      // not a URL: nothing to follow
    }
  };
  for (const m of html.matchAll(/<(?:a|link)\b[^>]*\bhref\s*=\s*["']([^"'#]+)/gi)) add(m[1]!);
  for (const m of html.matchAll(/<(?:script|img)\b[^>]*\bsrc\s*=\s*["']([^"'#]+)/gi)) add(m[1]!);
  for (const m of html.matchAll(/<form\b([^>]*)>/gi)) {
    const attrs = m[1]!;
    if (/method\s*=\s*["']?post/i.test(attrs)) continue;
    add(/action\s*=\s*["']([^"']*)/i.exec(attrs)?.[1] || fromPath);
  }
  return [...links];
}

export interface HttpTarget {
  /** Host port for a container port. */
  hostPort(containerPort: number): number;
  defaultPort: number;
}

/** How a probe is named in results and comparisons. */
const probeName = (p: HttpProbe): string => p.name ?? `${p.method} ${p.path}${p.port ? ` :${p.port}` : ''}`;

async function send(target: HttpTarget, probe: HttpProbe, jar: CookieJar, timeoutMs: number): Promise<{ result: ProbeResult; html?: string }> {
  const port = probe.port ?? target.defaultPort;
  const base = `http://127.0.0.1:${target.hostPort(port)}`;
  const masks = [...DEFAULT_MASKS, ...(probe.mask ?? [])];
  const compare = probe.compare ?? 'full';
  const headers: Record<string, string> = { ...(probe.headers ?? {}) };
  let body = probe.body;
  try {
    if (probe.form) {
      let fields = probe.form;
      if (probe.formFrom) {
        const page = await fetchWithin(base + probe.formFrom, { headers: { cookie: jar.header() ?? '' } }, timeoutMs);
        jar.take(page.res);
        fields = { ...hiddenFields(page.body.toString('utf8')), ...probe.form };
      }
      body = new URLSearchParams(fields).toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    }
    const cookie = jar.header();
    if (cookie) headers.cookie = cookie;
    // Same-origin form posts (Django's CSRF check) want a Referer on the same host.
    headers.referer ??= `${base}/`;
    const { res, body: bytes } = await fetchWithin(base + probe.path, { method: probe.method, headers, body, redirect: 'manual' }, timeoutMs);
    jar.take(res);
    const { digest, masked } = digestBody(bytes, masks);
    const contentType = res.headers.get('content-type') ?? undefined;
    const ok = probe.expectStatus === undefined || probe.expectStatus === res.status;
    return {
      result: {
        kind: 'http', name: probeName(probe), probe, status: res.status, contentType, size: bytes.length, digest, compare, ok,
        error: ok ? undefined : `expected status ${probe.expectStatus}, got ${res.status}`,
        excerpt: masked.slice(0, 300),
      },
      html: contentType?.includes('html') ? bytes.toString('utf8') : undefined,
    };
  } catch (err) {
    const message = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : ((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message);
    return { result: { kind: 'http', name: probeName(probe), probe, status: 0, size: 0, digest: '', compare, ok: false, error: message, excerpt: '' } };
  }
}

/** Sends the probes (and crawls from HTML answers when asked), a few at a time. */
export async function runHttpProbes(target: HttpTarget, probes: HttpProbe[], opts: { crawl?: CrawlOptions; concurrency?: number; timeoutMs?: number } = {}): Promise<ProbeResult[]> {
  const limit = pLimit(opts.concurrency ?? 4);
  const jar = new CookieJar();
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const results: ProbeResult[] = [];
  const seen = new Set(probes.filter((p) => p.method === 'GET').map((p) => `${p.port ?? target.defaultPort} ${p.path}`));
  // Probes with forms depend on cookies from earlier answers: they run in order, after the rest.
  const [ordered, parallel] = [probes.filter((p) => p.form), probes.filter((p) => !p.form)];
  const crawl = async (probe: HttpProbe, depth: number): Promise<void> => {
    const { result, html } = await limit(() => send(target, probe, jar, timeoutMs));
    results.push(result);
    if (!opts.crawl || !html || depth >= opts.crawl.maxDepth) return;
    const next: Promise<void>[] = [];
    for (const link of extractLinks(html, probe.path)) {
      const key = `${probe.port ?? target.defaultPort} ${link}`;
      if (seen.has(key) || seen.size >= opts.crawl.maxPages) continue;
      seen.add(key);
      next.push(crawl({ method: 'GET', path: link, port: probe.port, name: `GET ${link} (crawl)` }, depth + 1));
    }
    await Promise.all(next);
  };
  await Promise.all(parallel.map((p) => crawl(p, 0)));
  for (const p of ordered) results.push((await send(target, p, jar, timeoutMs)).result);
  return results;
}
