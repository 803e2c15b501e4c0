// Where a slim image goes: the OUTPUTS table. Each output streams the image
// (image/write.ts: a `docker load` archive, or its layer alone) and puts it
// somewhere; adding one is an entry here plus its own file. --output NAME or NAME:PATH.
import type { Engine } from '../engine.js';
import { SlimError } from '../errors.js';
import type { SlimImageStreams, WrittenImage } from '../image/write.js';
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
  signal?: AbortSignal;
}

export interface OutputResult extends WrittenImage {
  /** What was written, e.g. "docker app.slim:latest". */
  where: string;
  /** How the layer reached the engine, for outputs that put it there. */
  layerVia?: LayerVia;
}

export type LayerVia = 'imported while written' | 'loaded whole' | 'already in the engine' | 'written while the app stopped';

export interface Output {
  name: string;
  /** What PATH names, or undefined when the output takes none. */
  path?: 'directory' | 'file';
  description: string;
  /** Streams the image where it goes; writes nothing under its final name unless the image is complete. */
  write(image: SlimImageStreams, ctx: OutputContext, path: string | undefined): Promise<OutputResult>;
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
