import { ErrorCode } from './codes.js';

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

/**
 * A publish on several channels of which some were published and some not (a Redis Cluster
 * node lost mid-publish: the one exception to all-or-none, docs/protocol.md). `published`: the
 * seq each published channel was given; `failed`: the channels that were not (retry those).
 */
export class PartialPublishError extends ShardcastError {
  constructor(
    readonly published: Readonly<Record<string, number>>,
    readonly failed: readonly string[],
    cause: string,
  ) {
    super(ErrorCode.Partial, `published on ${Object.keys(published).length} channel(s), not on ${failed.join(', ')} (${cause}); retry those only`);
    this.name = 'PartialPublishError';
  }

  /** The fields error answers carry besides code and message. */
  get detail(): ErrorDetail {
    return { published: this.published, failed: this.failed };
  }
}

/** What a `partial` error answer carries besides code and message, on every ingress. */
export interface ErrorDetail {
  readonly published: Readonly<Record<string, number>>;
  readonly failed: readonly string[];
}

/** The detail fields of an error answer to `err` (only `partial` has any). */
export function detailOf(err: unknown): ErrorDetail | undefined {
  return err instanceof PartialPublishError ? err.detail : undefined;
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
