/** The ConfigError that `options` are refused with; fails the test if they are accepted. */
import assert from 'node:assert/strict';
import { resolveConfig, type Options } from '../../src/engine/config.js';
import { ConfigError } from '../../src/protocol/errors.js';

export function refusal(options: Options): ConfigError {
  try {
    resolveConfig(options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  throw new Error(`${JSON.stringify(options)} was accepted`);
}
