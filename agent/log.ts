// The one way Covey writes log lines: pino, JSON, to stderr so that stdout stays for a command's
// own output (tables, JSON summaries). Components take a child logger with their name bound.

import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  readonly name: string;
  readonly level?: LevelWithSilent;
}

export function createLogger(options: LogOptions): Logger {
  return pino({ name: options.name, level: options.level ?? process.env.COVEY_LOG_LEVEL ?? 'info' }, pino.destination(2));
}
