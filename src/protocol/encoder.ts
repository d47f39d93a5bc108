/**
 * FrameEncoder — turns a sequenced publication into the exact bytes every subscriber gets.
 * It runs once per publication on the main thread (never per recipient, never per shard);
 * shards forward the bytes untouched. MessagePack frames will be a second implementation,
 * chosen per connection format, still encoded once per format in use.
 */
import { formatEpoch } from './messages.js';

export interface EncodedFrame {
  /** A string is written into the ring as UTF-8 with no intermediate copy. */
  readonly frame: string | Uint8Array;
  readonly bytes: number;
  readonly binary: boolean;
}

export interface FrameEncoder {
  readonly format: 'json';
  /**
   * `data` is the publication's data as JSON text (validated by the ingress); `epoch` the
   * channel's incarnation (u32), written into the frame of its first message only.
   */
  encodePublication(channel: string, seq: number, epoch: number, data: string): EncodedFrame;
}

/**
 * Protocol v1 text frames: {"type":"message","channel":C,"seq":n,"data":…}; seq 1 also
 * carries "epoch", so a client that subscribed before the incarnation began (its
 * `subscribed` said seq 0 and no epoch) learns it, at no cost to the other messages.
 */
export class JsonFrameEncoder implements FrameEncoder {
  readonly format = 'json' as const;

  encodePublication(channel: string, seq: number, epoch: number, data: string): EncodedFrame {
    // channel names are restricted to characters JSON never escapes
    const frame = seq === 1
      ? `{"type":"message","channel":"${channel}","seq":1,"epoch":"${formatEpoch(epoch)}","data":${data}}`
      : `{"type":"message","channel":"${channel}","seq":${seq},"data":${data}}`;
    return { frame, bytes: Buffer.byteLength(frame), binary: false };
  }
}
