/**
 * Subscriptions — a connection's `subscribe` and `unsubscribe`: permissions, the per-connection
 * limit, the `subscribed` answer with the seq as of this shard's position in the feed, and
 * subscribes with `since` (recovery after a reconnect), which Recoveries completes — as it
 * does a plain subscribe to a channel this shard does not follow, with the Redis broker.
 */
import { ErrorCode } from '../protocol/codes.js';
import { subscribedFrame, unsubscribedFrame, type Since } from '../protocol/messages.js';
import { topicOf } from '../protocol/wire-format.js';
import { sendFrame, type ClientSocket, type ShardContext } from './context.js';
import { Recoveries } from './recoveries.js';

type Reject = (ws: ClientSocket, code: ErrorCode, message: string, ref: string | null) => void;

export class Subscriptions {
  readonly recoveries: Recoveries;

  constructor(
    private readonly ctx: ShardContext,
    private readonly reject: Reject,
  ) {
    this.recoveries = new Recoveries(ctx);
  }

  subscribe(ws: ClientSocket, channel: string, since: Since | null): void {
    const { ctx } = this;
    const client = ws.getUserData();
    if (!client.perms.subscribe.matches(channel, client.perms.user)) {
      ctx.count('forbiddenSubscribe');
      const { user, subscribe } = client.perms;
      const why = user !== null ? `your token does not allow subscribing to ${channel}` : subscribe.none ? 'anonymous connections may subscribe to no channel on this server' : `anonymous connections may not subscribe to ${channel}`;
      this.reject(ws, ErrorCode.Forbidden, why, 'subscribe');
      return;
    }
    if (client.recovering?.has(channel) === true) {
      // its answer (and replay) is on its way: a second answer could not say which came first
      this.reject(ws, ErrorCode.BadMessage, `a subscribe to ${channel} is still being answered; wait for its "subscribed" frame`, 'subscribe');
      return;
    }
    const topic = topicOf(channel, client.format);
    const last = ctx.lastSeq.get(channel);
    if (ws.isSubscribed(topic)) {
      // already following: nothing to replay; "recovered" only if the client is not behind
      const recovered = since === null ? undefined : last !== undefined && last.epoch === since.epoch && since.seq >= last.seq;
      sendFrame(ws, subscribedFrame(channel, last?.seq ?? 0, last?.epoch ?? null, recovered));
      return;
    }
    const channels = (client.channels ??= new Set());
    if (channels.size >= ctx.config.maxSubscriptions) {
      this.reject(ws, ErrorCode.TooManySubscriptions, `at most ${ctx.config.maxSubscriptions} subscriptions per connection`, 'subscribe');
      return;
    }
    if (since !== null) {
      this.recoveries.subscribe(ws, channel, since);
      return;
    }
    channels.add(channel);
    ctx.subscribed(topic, 1);
    if (this.recoveries.mustWait(channel, null)) {
      // several nodes, and this shard does not follow the channel: its seq may be 0 or stale
      this.recoveries.wait(ws, channel);
      return;
    }
    ws.subscribe(topic);
    // the seq as of this shard's position in the feed: the next delivery is seq + 1
    sendFrame(ws, subscribedFrame(channel, last?.seq ?? 0, last?.epoch ?? null));
  }

  unsubscribe(ws: ClientSocket, channel: string): void {
    const client = ws.getUserData();
    const topic = topicOf(channel, client.format);
    if (ws.isSubscribed(topic)) {
      ws.unsubscribe(topic);
      client.channels?.delete(channel);
      this.ctx.subscribed(topic, -1);
    } else {
      this.recoveries.cancel(ws, channel); // a pending recovery ends: its answer skips this socket
    }
    sendFrame(ws, unsubscribedFrame(channel));
  }
}
