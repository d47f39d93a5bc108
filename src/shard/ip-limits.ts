/**
 * IpLimits — one shard's per-address checks at the WebSocket upgrade: the handshake rate
 * (--max-handshakes-per-ip) and the open connections (--max-connections-per-ip) of the
 * peer's address, both counted over every shard in tables the main thread shares (see
 * src/limits/ip-table.ts and src/limits/handshake-limiter.ts). A refusal is answered here, with HTTP 429
 * and a JSON error body, and counted.
 *
 * The rate is checked first and spends a token on every attempt it lets through, even one
 * the connection limits then refuse: a client retrying in a loop against a full limit costs
 * a handshake each time, and is slowed down like any other.
 */
import { ErrorCode } from '../protocol/codes.js';
import { HandshakeLimiter, UNTRACKED as RATE_UNTRACKED, monotonicMicros } from '../limits/handshake-limiter.js';
import { ipKey } from '../limits/ip-key.js';
import type { IpTables } from '../limits/ip-slots.js';
import { IpTable, REFUSED, UNTRACKED } from '../limits/ip-table.js';
import type { HttpResponse } from '../transport/uws.js';
import type { ShardContext } from './context.js';
import { sendError } from './http-reply.js';

/** The connection holds no word of the connections table (limit off, or untracked). */
export const NO_SLOT = -1;

export class IpLimits {
  private readonly table: IpTable | null;
  private readonly rate: HandshakeLimiter | null;

  constructor(
    private readonly ctx: ShardContext,
    tables: IpTables,
  ) {
    const { config } = ctx;
    this.table = tables.connections && new IpTable(tables.connections);
    this.rate = tables.handshakes && new HandshakeLimiter(tables.handshakes, config.maxHandshakesPerIp, config.handshakeBurst);
  }

  /**
   * Admits the upgrade on `res` as far as its address goes: the word to release when the
   * connection closes (NO_SLOT if none), or null when it was refused and answered.
   */
  admit(res: HttpResponse): number | null {
    const { table, rate, ctx } = this;
    if (table === null && rate === null) return NO_SLOT;
    const key = ipKey(res.getRemoteAddress());
    if (rate !== null) {
      const wait = rate.tryHandshake(key, monotonicMicros());
      if (wait === RATE_UNTRACKED) ctx.count('ipTableFull');
      else if (wait > 0) {
        ctx.count('handshakesRateLimited');
        const seconds = Math.max(1, Math.ceil(wait / 1e6));
        const { maxHandshakesPerIp, handshakeBurst } = ctx.config;
        sendError(res, ErrorCode.HandshakeRateLimited, `more than ${maxHandshakesPerIp} handshakes per second (burst ${handshakeBurst}) from this address; retry in ${seconds} s`, {
          'retry-after': String(seconds),
        });
        return null;
      }
    }
    if (table === null) return NO_SLOT;
    const slot = table.tryOpen(key, ctx.config.maxConnectionsPerIp);
    if (slot === REFUSED) {
      ctx.count('connectionsRefusedPerIp');
      sendError(res, ErrorCode.TooManyConnectionsPerIp, `connection limit of ${ctx.config.maxConnectionsPerIp} per address reached`);
      return null;
    }
    if (slot === UNTRACKED) {
      ctx.count('ipTableFull');
      return NO_SLOT;
    }
    return slot;
  }

  /** Gives back what admit() took for a connection that has closed (or was never opened). */
  release(slot: number): void {
    if (slot !== NO_SLOT) this.table!.close(slot);
  }
}
