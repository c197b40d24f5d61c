/**
 * Structured JSON logs (pino): one object per line, `LOG_LEVEL` deciding what is written. The gateway logs request
 * ids, routes, statuses, operation names and error codes; it never logs headers, bodies or variables, which is where
 * tokens and personal data travel. The redaction below is a second line of defence for a mistake elsewhere.
 */
import { pino } from 'pino';
import type { LogLevel } from '../config.ts';
import { stdoutLines } from './stdout-lines.ts';

export type Logger = pino.Logger;

/** Where log lines go: stdout in production, a capturing stream in tests. */
export interface LogDestination {
  write(line: string): void;
}

/** Anything shaped like credentials, wherever it sits in a logged object, is replaced before the line is written. */
const REDACTED_PATHS = [
  'authorization',
  'token',
  'headers',
  'variables',
  '*.authorization',
  '*.token',
  '*.headers',
  '*.variables',
  '*.*.authorization',
  '*.*.headers',
];

export function createLogger(level: LogLevel, destination?: LogDestination): Logger {
  return pino(
    {
      level,
      base: { service: 'epmware-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    // Synchronous stdout by default: a line written just before a shutdown's exit is not lost, and a closed
    // stdout never holds the process (stdout-lines.ts).
    destination ?? stdoutLines(),
  );
}

type LogMethod = (...args: unknown[]) => void;

/**
 * Yoga's own logger (masked internal errors, debug tracing) routed into the structured log. Yoga hands over an
 * Error, or a message with details; an Error goes under pino's `err` serializer so the line stays one JSON object.
 * Yoga logs every error it rewrites, including the expected ones (an upstream 404, a missing token) that reach
 * the client with their contract code: those go to debug, so `error` means something unexpected happened.
 */
export function yogaLogger(
  logger: Logger,
  isExpected: (error: Error) => boolean = () => false,
): Record<LogLevel, LogMethod> {
  const child = logger.child({ component: 'yoga' });
  const forward =
    (level: LogLevel): LogMethod =>
    (first, ...rest) => {
      if (first instanceof Error) child[isExpected(first) ? 'debug' : level]({ err: first }, first.message);
      else child[level]({ details: rest.length ? rest.map(String) : undefined }, String(first));
    };
  return { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error') };
}
