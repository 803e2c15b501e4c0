// Comparing probe results of the original and the slim image, side by side.
import { answered, probeIdentity, type ProbeResult } from './drivers/result.js';

/** `unanswered`: the original gave no answer, so there is nothing to compare against. */
export type Verdict = 'same' | 'different' | 'missing' | 'unanswered';

export interface ComparisonRow {
  name: string;
  original?: ProbeResult;
  slim?: ProbeResult;
  verdict: Verdict;
  why?: string;
}

export interface Comparison {
  rows: ComparisonRow[];
  /** Every probe answered the same by both, and there was at least one. */
  equivalent: boolean;
  same: number;
  total: number;
  /** Where a build took the original's answers: its trace run, or a run of its own without the tracer. */
  originalRun?: 'traced' | 'untraced';
}

function verdictOf(a: ProbeResult, b: ProbeResult): { verdict: Verdict; why?: string } {
  if (!answered(a)) return { verdict: 'unanswered', why: `no answer from the original${a.error ? ` (${a.error})` : ''}` };
  if (a.status !== b.status) return { verdict: 'different', why: `${a.kind === 'http' ? 'status' : 'exit code'} ${a.status} vs ${b.status}${b.error ? ` (${b.error})` : ''}` };
  if (a.compare === 'status' || b.compare === 'status') return { verdict: 'same' };
  if ((a.contentType ?? '') !== (b.contentType ?? '')) return { verdict: 'different', why: `content type ${a.contentType} vs ${b.contentType}` };
  if (a.digest !== b.digest) return { verdict: 'different', why: `body differs (${a.size} vs ${b.size} bytes)` };
  return { verdict: 'same' };
}

/** Keys results by what the probe is (repeats numbered in order), never by display name. */
function keyed(results: ProbeResult[]): Map<string, ProbeResult> {
  const seen = new Map<string, number>();
  return new Map(results.map((r) => {
    const identity = probeIdentity(r);
    const n = (seen.get(identity) ?? 0) + 1;
    seen.set(identity, n);
    return [`${identity}#${n}`, r];
  }));
}

/** What a person reads as trouble in an app's log. */
const TROUBLE = /\b(warn(ing)?|error|exception|traceback|fatal|cannot|can't|could not|couldn't|unable to|not found|no such file|failed|ignoring|missing|denied)\b/i;

/** A log line without what differs between two runs of the same app: colours, times, numbers, ids. */
const normalise = (line: string): string =>
  line.replace(/\x1b\[[0-9;]*m/g, '').replace(/\b[0-9a-f]{12,}\b/gi, '<id>').replace(/\d+/g, '#').replace(/\s+/g, ' ').trim();

/** Lines that look like trouble in the slim image's log and that the original's log, run the same way, does not have. */
export function newWarnings(originalLog: string, slimLog: string): string[] {
  const before = new Set(originalLog.split('\n').map(normalise));
  const added = slimLog.split('\n').filter((line) => TROUBLE.test(line) && !before.has(normalise(line)));
  return [...new Set(added.map((line) => line.trim()))];
}

/** The probes' answers and the app's own log, which must not gain warnings or errors. */
export function compareRuns(original: { results: ProbeResult[]; logs: string }, slim: { results: ProbeResult[]; logs: string }): Comparison {
  const comparison = compareResults(original.results, slim.results);
  const warnings = newWarnings(original.logs, slim.logs);
  if (warnings.length === 0) return comparison;
  const path = /(?:^|[\s'"(=:])(\/[^\s'"():,]+)/.exec(warnings[0]!)?.[1];
  const why = `new in the slim image's log: ${JSON.stringify(warnings[0]!.slice(0, 200))}${path ? ` (names ${path})` : ''}${warnings.length > 1 ? ` and ${warnings.length - 1} more line(s)` : ''}`;
  const rows = [...comparison.rows, { name: 'app log', verdict: 'different' as const, why }];
  return { rows, equivalent: false, same: comparison.same, total: comparison.total + 1 };
}

/** Matches probes by identity: each must give the same answer from both images. */
export function compareResults(original: ProbeResult[], slim: ProbeResult[]): Comparison {
  const bySlim = keyed(slim);
  const rows: ComparisonRow[] = [...keyed(original)].map(([key, o]) => {
    const s = bySlim.get(key);
    bySlim.delete(key);
    return s ? { name: o.name, original: o, slim: s, ...verdictOf(o, s) } : { name: o.name, original: o, verdict: 'missing', why: 'not sent to the slim image' };
  });
  for (const s of bySlim.values()) rows.push({ name: s.name, slim: s, verdict: 'missing', why: 'not sent to the original image' });
  rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const same = rows.filter((r) => r.verdict === 'same').length;
  return { rows, equivalent: rows.length > 0 && same === rows.length, same, total: rows.length };
}
