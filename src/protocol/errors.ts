import type { ErrorCode } from './codes.js';

/** An error with a stable code from codes.ts, safe to show to clients. */
export class ShardcastError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ShardcastError';
  }
}

/** A bad configuration value: names the option, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`invalid ${option}: ${typeof value === 'string' ? JSON.stringify(value) : String(value)} (${allowed})`);
    this.name = 'ConfigError';
  }
}
