/**
 * UserDisconnect — POST /api/disconnect and disconnectUser() on one node or several: this
 * node's shards close the user's connections (4500) and, with a broker that joins several
 * nodes (Redis), every other node is told to close its own. A logout or a ban must not stop at
 * the node the request happened to reach.
 */
import type { Broker } from '../broker/broker.js';
import { ErrorCode } from '../protocol/codes.js';
import { ShardcastError } from '../protocol/errors.js';
import type { HttpAnswer } from './control.js';

export interface UserDisconnect {
  /** Connections closed on this node. */
  readonly closed: number;
  /** How many other nodes were told; null: there are none; an error: they could not be told now. */
  readonly nodes: number | null | ShardcastError;
}

/** Closes here and tells the others at once; this node's connections are closed whatever the broker says. */
export async function disconnectEverywhere(user: string, closeHere: (user: string) => Promise<number>, broker: Broker): Promise<UserDisconnect> {
  const [closed, others] = await Promise.allSettled([closeHere(user), broker.disconnectUser?.(user) ?? null]);
  const nodes = others.status === 'fulfilled' ? others.value : others.reason instanceof ShardcastError ? others.reason : new ShardcastError(ErrorCode.Overloaded, String(others.reason));
  return { closed: closed.status === 'fulfilled' ? closed.value : 0, nodes };
}

/** The HTTP answer (docs/protocol.md): 200 with the counts, or 503 `overloaded` (Retry-After) when other nodes could not be told. */
export function disconnectAnswer({ closed, nodes }: UserDisconnect): HttpAnswer {
  if (nodes instanceof ShardcastError) {
    const message = `${nodes.message}; closed ${closed} connection(s) on this node only`;
    return { status: 503, contentType: 'application/json', headers: { 'retry-after': '1' }, body: JSON.stringify({ error: { code: nodes.code, message } }) };
  }
  return { status: 200, contentType: 'application/json', body: nodes === null ? `{"closed":${closed}}` : `{"closed":${closed},"nodes":${nodes}}` };
}
