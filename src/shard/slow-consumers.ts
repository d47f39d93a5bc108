/**
 * The slow-consumer sweep: uWS's own maxBackpressure would skip frames silently (the close
 * frame too), so it is off (ClientHandler) and this sweep closes, with 4001 queued behind
 * what it was sent, every client whose send buffer passed --max-backpressure.
 * O(connections) native calls per sweep, no work per message.
 */
import { CloseCode } from '../protocol/codes.js';
import type { ShardContext } from './context.js';

/** How often the slow-consumer sweep looks at every connection's send buffer. */
export const SWEEP_INTERVAL_MS = 100;

export function sweepSlowConsumers(ctx: ShardContext): void {
  const limit = ctx.config.maxBackpressure;
  for (const ws of ctx.clients.values()) {
    if (ws.getBufferedAmount() > limit) {
      ctx.count('closedSlowConsumer');
      ws.end(CloseCode.SlowConsumer, 'slow consumer');
    }
  }
}
