// What a probe of any kind (HTTP request, command in the container, command
// on the host) comes back with: the unit that verification compares.
import type { HttpProbe } from './http.js';

export interface ProbeResult {
  kind: 'http' | 'exec' | 'host-exec' | 'run';
  name: string;
  /** HTTP status, or exit code for commands and batch runs. */
  status: number;
  contentType?: string;
  size: number;
  digest: string;
  compare: 'full' | 'status';
  /** False when the probe could not be sent or the expected status was not met. */
  ok: boolean;
  error?: string;
  /** The first bytes of the (masked) body or output, to show in a divergence. */
  excerpt: string;
  /** The HTTP probe as sent (crawled pages included), so that another run can send it again. */
  probe?: HttpProbe;
}

/** Whether the app answered at all: an HTTP status, or a command that ran to an exit code. */
export const answered = (r: ProbeResult): boolean => (r.kind === 'http' ? r.status > 0 : r.status >= 0);

/**
 * What a probe is, as opposed to what it is called: the request as sent (or
 * the command). Two probes with one display name stay two probes.
 */
export function probeIdentity(r: ProbeResult): string {
  if (!r.probe) return `${r.kind} ${r.name}`;
  const { name: _name, ...request } = r.probe;
  return `http ${canonicalJson(request)}`;
}

/** JSON with object keys sorted at every level, so equal values give equal text. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v);
