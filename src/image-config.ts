// An image's config as OCI and Docker write it: what the engine reports for an
// image and what an image archive holds. Used by the engine and by image/;
// its environment is read by runs and the keep plan.

/** The parts of an OCI image config that slim reads or carries over. */
export interface ImageConfig {
  created?: string;
  architecture?: string;
  os?: string;
  config?: ContainerConfig;
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; empty_layer?: boolean; comment?: string }>;
  [key: string]: unknown;
}

export interface ContainerConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object> | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Healthcheck?: unknown;
  OnBuild?: string[] | null;
  Shell?: string[];
  ArgsEscaped?: boolean;
  [key: string]: unknown;
}

/** An environment list (Env, --env) by name; an entry without '=' names a variable with no value. */
export function envMap(env: string[]): Map<string, string> {
  return new Map(env.map((e) => {
    const eq = e.indexOf('=');
    return eq < 0 ? [e, ''] : [e.slice(0, eq), e.slice(eq + 1)];
  }));
}
