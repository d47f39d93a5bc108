/**
 * Permissions — what one connection may do: its user (null when anonymous) and the channels
 * it may subscribe and publish to. A connection with a token gets them from its claims; one
 * without (no JWT configured, or --allow-anonymous) gets anonymousPermissions: the same
 * compiled object for every anonymous connection of a shard, so it costs them nothing each.
 */
import type { Config } from '../engine/config.js';
import { ChannelPatterns } from './channel-patterns.js';

export interface Permissions {
  /** The token's `sub`; null for an anonymous connection. */
  readonly user: string | null;
  readonly subscribe: ChannelPatterns;
  readonly publish: ChannelPatterns;
}

/** An anonymous connection: subscribe to --anonymous-channels, publish to --client-publish. */
export function anonymousPermissions(config: Pick<Config, 'anonymousChannels' | 'clientPublish'>): Permissions {
  return Object.freeze({
    user: null,
    subscribe: new ChannelPatterns(config.anonymousChannels),
    publish: new ChannelPatterns(config.clientPublish),
  });
}
