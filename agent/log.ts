// The one way Covey writes log lines: pino, to stderr so that stdout stays for a command's own
// output (tables, JSON summaries). JSON by default (for log collectors); human-readable lines when
// stderr is a terminal. Components take a child logger with their name bound.

import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  readonly name: string;
  readonly level?: LevelWithSilent;
  /** Human-readable output; defaults to whether stderr is a terminal. */
  readonly pretty?: boolean;
}

export function createLogger(options: LogOptions): Logger {
  const level = options.level ?? (process.env.COVEY_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info';
  if (options.pretty ?? process.stderr.isTTY === true) {
    return pino({ name: options.name, level, transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ name: options.name, level }, pino.destination(2));
}
