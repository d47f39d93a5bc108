/**
 * UserSockets — one shard's open authenticated connections per user, for per-user delivery
 * (docs/protocol.md, "Per-user delivery"): a publication on a user's channel is sent to each
 * of them, one `send` per connection. A uWS topic per user did the same through uWS pub/sub,
 * but cost ~450 B of native memory per user on top of this table's entry, and per-user
 * publications reach one or two connections, where a topic saves nothing. Filed under
 * userKey(sub) — for most users the `sub` string its Permissions already hold. A user's
 * connections on one shard are usually one: the entry is then the socket itself, an array
 * only from the second one on.
 */
import { WireFormat } from '../protocol/wire-format.js';
import type { ClientSocket } from './context.js';

export class UserSockets {
  private readonly byUser = new Map<string, ClientSocket | ClientSocket[]>();

  /** Files `ws` under `key`; true when it is that user's first connection here in its format. */
  add(key: string, ws: ClientSocket): boolean {
    const held = this.byUser.get(key);
    if (held === undefined) {
      this.byUser.set(key, ws);
      return true;
    }
    const format = formatOf(ws);
    if (Array.isArray(held)) {
      const first = !held.some((s) => formatOf(s) === format);
      held.push(ws);
      return first;
    }
    this.byUser.set(key, [held, ws]);
    return formatOf(held) !== format;
  }

  /** Takes `ws` out; true when it was that user's last connection here in its format. */
  remove(key: string, ws: ClientSocket): boolean {
    const held = this.byUser.get(key);
    if (held === undefined) return false;
    if (!Array.isArray(held)) {
      if (held !== ws) return false;
      this.byUser.delete(key);
      return true;
    }
    const i = held.indexOf(ws);
    if (i < 0) return false;
    held.splice(i, 1);
    if (held.length === 1) this.byUser.set(key, held[0]!);
    const format = formatOf(ws);
    return !held.some((s) => formatOf(s) === format);
  }

  /** The user's connections here: one socket, several (the table's own list: not to be changed), or undefined for none. */
  get(key: string): ClientSocket | ClientSocket[] | undefined {
    return this.byUser.get(key);
  }

  /** The user's connections here as a list of its own (safe to close them while going through it). */
  list(key: string): ClientSocket[] {
    const held = this.byUser.get(key);
    return held === undefined ? [] : Array.isArray(held) ? [...held] : [held];
  }

  /** Connections per user and format, for GET /api/channels: [key, format, count]. */
  *counts(): Generator<[string, WireFormat, number]> {
    for (const [key, held] of this.byUser) {
      if (!Array.isArray(held)) {
        yield [key, formatOf(held), 1];
        continue;
      }
      const json = held.filter((s) => formatOf(s) === WireFormat.Json).length;
      if (json > 0) yield [key, WireFormat.Json, json];
      if (json < held.length) yield [key, WireFormat.Msgpack, held.length - json];
    }
  }
}

function formatOf(ws: ClientSocket): WireFormat {
  return ws.getUserData().format;
}
