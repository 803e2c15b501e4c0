// Where a slim image goes: the OUTPUTS table. Each output reads the same
// `docker load` archive stream (image/write.ts) and puts it somewhere; adding
// one is an entry here plus its own file. --output NAME or NAME:PATH.
import type { Readable } from 'node:stream';
import type { Engine } from '../engine.js';
import { SlimError } from '../errors.js';
import { dockerSaveOutput } from './archive.js';
import { engineOutput } from './docker.js';
import { ociLayoutOutput } from './oci.js';

export interface OutputTarget {
  kind: string;
  /** The directory or file, for outputs that write one. */
  path?: string;
}

export interface OutputContext {
  engine: Engine;
  /** The slim image's tag (repo:tag). */
  tag: string;
  /** Settles with the image ID once the archive is completely written. */
  done: Promise<{ id: string }>;
  signal?: AbortSignal;
}

export interface Output {
  name: string;
  /** What PATH names, or undefined when the output takes none. */
  path?: 'directory' | 'file';
  description: string;
  /** Consumes the archive stream; writes nothing under its final name unless the image is complete. Returns what was written. */
  write(archive: Readable, ctx: OutputContext, path: string | undefined): Promise<string>;
}

export const OUTPUTS: Output[] = [engineOutput, ociLayoutOutput, dockerSaveOutput];

export const OUTPUT_SYNTAX = OUTPUTS.map((o) => (o.path ? `${o.name}:${o.path.toUpperCase()}` : o.name)).join(', ');

export function outputNamed(kind: string): Output {
  const output = OUTPUTS.find((o) => o.name === kind);
  if (!output) throw new SlimError(`unknown output '${kind}'`, { kind: 'usage', hint: `outputs: ${OUTPUT_SYNTAX}` });
  return output;
}

/** Parses --output values: docker, oci:DIR, archive:FILE. */
export function parseOutput(value: string): OutputTarget {
  const colon = value.indexOf(':');
  const [kind, path] = colon === -1 ? [value, undefined] : [value.slice(0, colon), value.slice(colon + 1)];
  const output = outputNamed(kind);
  if (output.path && !path) throw new SlimError(`--output ${value}: ${kind} needs a ${output.path}, as in ${kind}:${output.path === 'directory' ? 'DIR' : 'FILE'}`, { kind: 'usage' });
  if (!output.path && path !== undefined) throw new SlimError(`--output ${value}: ${kind} takes no path`, { kind: 'usage', hint: `outputs: ${OUTPUT_SYNTAX}` });
  return { kind, path };
}

export const describeTarget = (t: OutputTarget): string => (t.path ? `${t.kind}:${t.path}` : t.kind);
