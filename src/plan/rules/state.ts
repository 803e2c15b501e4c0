// 15.1: the app's state. A non-root app's files (what the image made for the
// runtime user: its data, its home) and the image's VOLUME directories are the
// app's state, kept whole with their owner and mode, whether or not a probe
// reached them.
import { dedupe, readTextAt, type KeepRequest, type RuleContext } from './context.js';
import { ancestors, showPath } from '../../paths.js';

/** Places that are never the app's state: kernel file systems the engine mounts. */
const NOT_STATE = /^\/(proc|sys|dev)(\/|$)/;

/** Who a USER value ("app", "1002", "app:staff", "1002:1002") is: its numeric uid and its home directory (not "/"). */
export interface RuntimeUser {
  uid?: number;
  home?: string;
}

/** A USER value through the image's /etc/passwd: its line by login name or uid; a number is the uid without one. */
export async function runtimeUser(ctx: Pick<RuleContext, 'tree' | 'content'>, user: string): Promise<RuntimeUser> {
  const name = user.split(':')[0]!.trim();
  if (!name) return {};
  const numeric = /^\d+$/.test(name) ? Number(name) : undefined;
  for (const line of ((await readTextAt(ctx, '/etc/passwd')) ?? '').split('\n')) {
    const [login, , uid, , , home] = line.split(':');
    if (login !== name && uid !== name) continue;
    return { uid: numeric ?? (uid && /^\d+$/.test(uid) ? Number(uid) : undefined), home: home?.startsWith('/') && home !== '/' ? home : undefined };
  }
  return { uid: numeric };
}

export async function appState(ctx: RuleContext): Promise<KeepRequest[]> {
  const out: KeepRequest[] = [];
  for (const volume of ctx.volumes ?? []) if (ctx.tree.has(volume)) out.push({ path: volume, reason: `VOLUME ${showPath(volume)} of the image` });
  const { uid } = await runtimeUser(ctx, ctx.user);
  if (uid !== undefined && uid !== 0) {
    const reason = `owned by the runtime user ${ctx.user.split(':')[0]}`;
    const owned = new Set<string>();
    for (const entry of ctx.tree.values()) if (entry.uid === uid && entry.path !== '/' && !NOT_STATE.test(entry.path)) owned.add(entry.path);
    // The topmost owned path stands for everything under it (directories are kept whole).
    for (const path of owned) if (!ancestors(path).some((a) => owned.has(a))) out.push({ path, reason });
  }
  return dedupe(out);
}
