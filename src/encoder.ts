/**
 * FrameEncoder — turns a sequenced publication into the exact bytes every subscriber gets.
 * It runs once per publication on the main thread (never per recipient, never per shard);
 * shards forward the bytes untouched. MessagePack frames will be a second implementation,
 * chosen per connection format, still encoded once per format in use.
 */
export interface EncodedFrame {
  /** A string is written into the ring as UTF-8 with no intermediate copy. */
  readonly frame: string | Uint8Array;
  readonly bytes: number;
  readonly binary: boolean;
}

export interface FrameEncoder {
  readonly format: 'json';
  /** `data` is the publication's data as JSON text (validated by the ingress). */
  encodePublication(channel: string, seq: number, data: string): EncodedFrame;
}

/** Protocol v1 text frames: {"type":"message","channel":C,"seq":n,"data":…}. */
export class JsonFrameEncoder implements FrameEncoder {
  readonly format = 'json' as const;

  encodePublication(channel: string, seq: number, data: string): EncodedFrame {
    // channel names are restricted to characters JSON never escapes
    const frame = `{"type":"message","channel":"${channel}","seq":${seq},"data":${data}}`;
    return { frame, bytes: Buffer.byteLength(frame), binary: false };
  }
}
