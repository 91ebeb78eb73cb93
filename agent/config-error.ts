// The error a bad agent config throws. Its own small module so the CLI can tell a config problem
// (exit 2) from a failed operation (exit 1) without loading the config schema (zod, yaml, drivers).

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
