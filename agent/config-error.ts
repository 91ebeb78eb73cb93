// The error a bad agent config throws. Its own small module so the CLI can tell a config problem
// (exit 2) from a failed operation (exit 1) without loading the config schema (zod, yaml, drivers).

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * The exit code of a command that failed with `err`: 2 for a problem with what the user gave (a
 * bad config, a plugin that cannot be loaded), 1 for a failed operation. By name as well as by
 * class: an error thrown inside the agent bundle is of the bundle's own class.
 */
export function agentExitCode(err: unknown): 1 | 2 {
  const name = (err as Error | undefined)?.name;
  return err instanceof ConfigError || name === 'ConfigError' || name === 'PluginLoadError' ? 2 : 1;
}
