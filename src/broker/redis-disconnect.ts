/**
 * RedisDisconnect — how nodes on one Redis tell each other to close a user's connections
 * (POST /api/disconnect reached one of them): a JSON message {node, user} on DISCONNECT_CHANNEL,
 * which every node subscribes to; each skips its own (it closed them already).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ErrorCode } from '../protocol/codes.js';
import { ShardcastError } from '../protocol/errors.js';
import { DISCONNECT_CHANNEL } from './redis-script.js';

export class RedisDisconnect {
  /** Names this node in its requests, so it skips its own when Redis sends them back. */
  private readonly node = randomBytes(8).toString('hex');

  constructor(private readonly onDisconnectUser: ((user: string) => void) | undefined) {}

  /**
   * Tells the other nodes; resolves with how many heard it. `up`: the connection is ready;
   * `sharded`: a Redis Cluster's node, where the channel is sharded (SPUBLISH counts every node).
   */
  send(redis: Redis, sharded: boolean, up: boolean, user: string): Promise<number> {
    if (!up) return Promise.reject(new ShardcastError(ErrorCode.Overloaded, 'Redis is unreachable: the other nodes were not told; retry shortly'));
    // PUBLISH answers how many subscribers got it: every node, this one included
    const message = JSON.stringify({ node: this.node, user });
    return (sharded ? redis.spublish(DISCONNECT_CHANNEL, message) : redis.publish(DISCONNECT_CHANNEL, message)).then(
      (heard) => Math.max(0, Number(heard) - 1),
      (err: Error) => Promise.reject(new ShardcastError(ErrorCode.Overloaded, `Redis did not take the disconnect (${err.message}); retry shortly`)),
    );
  }

  /** A message on DISCONNECT_CHANNEL; false when it is not one of ours (counted by the caller). */
  received(message: Buffer): boolean {
    let m: { node?: unknown; user?: unknown };
    try {
      m = JSON.parse(message.toString('utf8')) as typeof m;
    } catch {
      return false;
    }
    if (typeof m.user !== 'string') return false;
    if (m.node !== this.node) this.onDisconnectUser?.(m.user);
    return true;
  }
}
