// Which wait strategies a run uses: only what the user asked for, and HTTP only where HTTP will be spoken.
import { describe, expect, it } from 'vitest';
import { chooseWaits } from '../src/wait.js';

const chosen = (...args: Parameters<typeof chooseWaits>) => chooseWaits(...args).map((w) => /\(([^)]+)\)$/.exec(w.what)?.[1]);

describe('chooseWaits', () => {
  it('waits for HTTP only when HTTP will be spoken, else only connects', () => {
    expect(chosen({}, [8000, 9443], true)).toEqual(['http']);
    expect(chosen({}, [6379], false)).toEqual(['tcp']);
    expect(chosen({}, [], false)).toEqual([]);
  });

  it('uses what the user asked for instead of the ports, and HTTP after it when HTTP is spoken', () => {
    expect(chosen({ log: 'ready' }, [6379], false)).toEqual(['--ready-log']);
    expect(chosen({ exec: 'pg_isready', delaySeconds: 2 }, [5432], false)).toEqual(['--ready-delay', '--ready-exec']);
    expect(chosen({ exec: 'true' }, [8000], true)).toEqual(['--ready-exec', 'http']);
  });
});
