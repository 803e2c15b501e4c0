// Errors carry the context they happened in and, when we know one, a hint that
// names the flag or command that fixes them. Only the CLI turns them into exit codes.

export type ExitKind = 'error' | 'usage' | 'divergent' | 'interrupted';

export class SlimError extends Error {
  readonly hint?: string;
  readonly kind: ExitKind;
  constructor(message: string, opts: { hint?: string; kind?: ExitKind; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SlimError';
    this.hint = opts.hint;
    this.kind = opts.kind ?? 'error';
  }
}

/** Runs `fn`, prefixing any error with `context` ("reading image app:latest: ..."). */
export async function withContext<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw addContext(context, err);
  }
}

export function addContext(context: string, err: unknown): SlimError {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof SlimError) {
    return new SlimError(`${context}: ${message}`, { hint: err.hint, kind: err.kind, cause: err.cause ?? err });
  }
  return new SlimError(`${context}: ${message}`, { cause: err });
}
