/**
 * What the client tells the application: the event payloads of `ShardcastClient.on(…)`.
 * docs/client.md describes when each is emitted.
 */

/** One message, delivered once, in seq order within its channel's epoch. */
export interface Delivery {
  readonly channel: string;
  readonly seq: number;
  /** The epoch the seq belongs to; null only before the channel's first epoch is known. */
  readonly epoch: string | null;
  readonly data: unknown;
  /**
   * Conflation (docs/protocol.md, "Merging and conflation"): how many seqs just before this one
   * the server folded into it on purpose. 0 for an ordinary message. Not a loss.
   */
  readonly replaces: number;
}

/** Seqs `from`..`to` of `epoch` were published but will never be delivered: reload what they carried. */
export interface GapEvent {
  readonly channel: string;
  readonly epoch: string | null;
  readonly from: number;
  readonly to: number;
}

/**
 * The channel's history does not continue what the application has: the server answered a
 * resubscription `recovered: false`, or the epoch changed. The application must reload the
 * channel's state; delivery goes on from `seq` + 1 of `epoch`.
 */
export interface UnrecoveredEvent {
  readonly channel: string;
  readonly seq: number;
  readonly epoch: string | null;
  /** The last seq and epoch delivered before. */
  readonly lastSeq: number;
  readonly lastEpoch: string | null;
  readonly reason: 'not_recovered' | 'epoch_changed';
}

/** The server's answer to a (re)subscription. */
export interface SubscribedEvent {
  readonly channel: string;
  readonly seq: number;
  readonly epoch: string | null;
  /** Present only when the client asked for recovery (`since`) and the server supports it. */
  readonly recovered?: boolean;
  /** True when this is a resubscription after a reconnect. */
  readonly resubscribe: boolean;
}

/** The server forgot the channel's state (nothing was lost); its next message is seq 1 of a new epoch. */
export interface ResetEvent {
  readonly channel: string;
}

export interface OpenEvent {
  readonly id: string;
  readonly shard: number;
  /** The token's `sub`, when the connection came with a token. */
  readonly user?: string;
  /** How many times the client had connected before (0 for the first connection). */
  readonly reconnects: number;
  /** The URL this connection went to (one of the `url` option's). */
  readonly url: string;
}

export interface CloseEvent {
  readonly code: number;
  readonly reason: string;
  /** ms until the next attempt; null when the client will not reconnect (terminal code, close(), or gave up). */
  readonly reconnectInMs: number | null;
}

/** An error frame no promise was waiting for (a refused subscribe, say), or a failure to connect. */
export interface ErrorEvent {
  readonly code: string;
  readonly message: string;
  /** The channel of a refused subscription. */
  readonly channel?: string;
}

export interface ClientEvents {
  open: OpenEvent;
  message: Delivery;
  subscribed: SubscribedEvent;
  gap: GapEvent;
  unrecovered: UnrecoveredEvent;
  reset: ResetEvent;
  close: CloseEvent;
  error: ErrorEvent;
}

/** A refused or failed publish, subscribe or connection; `code` is a server error code or one of the client's own. */
export class ShardcastClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ShardcastClientError';
  }
}
