/**
 * Payload — a publication's data, in the format it arrived in (JSON text or MessagePack
 * bytes), with the other format made from it at most once, when some subscriber needs it.
 *
 * The two formats do not carry the same values. The rules (docs/protocol.md, "Data across
 * formats"):
 * - JSON → MessagePack is exact: every JSON value has a MessagePack form.
 * - MessagePack → JSON: binary (bin 8/16/32) becomes `{"$binary":"<base64>"}`; a timestamp
 *   becomes its ISO-8601 string; map keys that are not strings become their string form
 *   (nil → "null", 1 → "1"); integers beyond 2^53 lose precision as any JSON number would.
 *   A JSON subscriber cannot tell a `$binary` object published as JSON from binary data:
 *   channels that carry binary are meant for MessagePack subscribers.
 * - Anything else MessagePack can say is refused at the ingress with `bad_message`
 *   (unknown extension types, the reserved byte 0xc1, trailing bytes, nesting too deep).
 *
 * The MessagePack written is plain MessagePack (no msgpackr "records" extension), so any
 * MessagePack library reads it.
 */
import { C1, Packr, Unpackr } from 'msgpackr';
import { ErrorCode } from './codes.js';
import { ShardcastError } from './errors.js';

/** One codec pair for the whole thread: plain MessagePack in and out. */
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * Encodes a value as plain MessagePack. Throws ShardcastError(bad_message) when it cannot
 * (nesting deeper than the stack allows).
 */
export function packValue(value: unknown): Uint8Array {
  try {
    return packr.pack(value);
  } catch (err) {
    const why = err instanceof RangeError ? 'is nested too deeply' : `cannot be encoded as MessagePack: ${(err as Error).message}`;
    throw new ShardcastError(ErrorCode.BadMessage, `"data" ${why}`);
  }
}

/**
 * Decodes one MessagePack value that must fill `bytes` exactly. Throws
 * ShardcastError(bad_msgpack) on anything malformed: truncated input, lengths past the
 * end, unknown extensions, 0xc1, trailing bytes, nesting too deep. Never throws anything else.
 */
export function unpackValue(bytes: Uint8Array): unknown {
  let v: unknown;
  try {
    v = unpackr.unpack(bytes);
  } catch (err) {
    const why = err instanceof RangeError ? 'is nested too deeply' : (err as Error).message;
    throw new ShardcastError(ErrorCode.BadMsgpack, `frame is not valid MessagePack: ${why}`);
  }
  if (containsReserved(v, 0)) throw new ShardcastError(ErrorCode.BadMsgpack, 'frame is not valid MessagePack: the reserved byte 0xc1');
  return v;
}

/** msgpackr decodes 0xc1 ("never used") as its marker object C1 instead of failing. */
function containsReserved(v: unknown, depth: number): boolean {
  if (v === C1) return true;
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || v instanceof Date) return false;
  if (depth > 10_000) return false; // deeper than unpack allows; never reached
  if (Array.isArray(v)) return v.some((x) => containsReserved(x, depth + 1));
  for (const k in v) if (containsReserved((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/** JSON text of a decoded MessagePack value, by the rules above. */
export function jsonOfValue(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value, binaryAsObject);
  } catch (err) {
    const why = err instanceof RangeError ? 'is nested too deeply' : (err as Error).message;
    throw new ShardcastError(ErrorCode.BadMessage, `"data" has no JSON form: ${why}`);
  }
  return json ?? 'null';
}

/** JSON.stringify replacer: binary as `{"$binary":"<base64>"}` (Buffer.toJSON is bypassed). */
function binaryAsObject(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return { $binary: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') };
  return value;
}

/** Whether `value` is or holds binary data (which only MessagePack carries as is). */
export function holdsBinary(value: unknown, depth = 0): boolean {
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return true;
  if (typeof value !== 'object' || value === null || depth > 64) return false;
  if (Array.isArray(value)) return value.some((x) => holdsBinary(x, depth + 1));
  for (const k in value) if (holdsBinary((value as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

export class Payload {
  private constructor(
    /** Whether the data arrived as MessagePack (else as JSON text); fixed, whatever is converted later. */
    readonly isMsgpack: boolean,
    private json: string | null,
    /** JSON data held as its UTF-8 bytes (as an ingress ring carries it), not decoded to a string. */
    private utf8: Buffer | null,
    private packed: Uint8Array | null,
    /** Whether `utf8` or `packed` is a view of memory that is reused once the caller returns (kept() copies it). */
    private transient: boolean,
  ) {}

  /** Data that arrived as JSON text (validated by the ingress). */
  static json(text: string): Payload {
    return new Payload(false, text, null, null, false);
  }

  /** Data that arrived as MessagePack bytes (re-encoded by the ingress, so well formed). */
  static msgpack(bytes: Uint8Array): Payload {
    return new Payload(true, null, null, bytes, false);
  }

  /** JSON text or MessagePack bytes, as a ring record carries them (records.ts). */
  static of(data: string | Uint8Array): Payload {
    return typeof data === 'string' ? Payload.json(data) : Payload.msgpack(data);
  }

  /**
   * Data still in an ingress ring record (records.ts readPublishView): validated JSON text as
   * UTF-8 bytes, or MessagePack bytes. Nothing is decoded: a JSON frame copies these bytes as
   * they are (Fanout). The view is valid only until the record is released, so whoever keeps the
   * payload past the call it was handed in must call kept() first.
   */
  static inRing(bytes: Buffer, msgpack: boolean): Payload {
    return msgpack ? new Payload(true, null, null, bytes, true) : new Payload(false, null, bytes, null, true);
  }

  /** This payload, with bytes that were a view of reused memory copied into its own (once). */
  kept(): this {
    if (this.transient) {
      if (this.isMsgpack) this.packed = new Uint8Array(this.packed!);
      else this.utf8 = Buffer.from(this.utf8!);
      this.transient = false;
    }
    return this;
  }

  /** The data as a ring record carries it: JSON text, or MessagePack bytes if it arrived so. */
  get raw(): string | Uint8Array {
    return this.isMsgpack ? this.packed! : this.asJson();
  }

  /** Bytes of the data as it arrived. */
  get byteLength(): number {
    if (this.isMsgpack) return this.packed!.byteLength;
    return this.utf8 !== null ? this.utf8.byteLength : Buffer.byteLength(this.json!);
  }

  /** The JSON data's UTF-8 bytes when it is held so (inRing), else null: nothing is converted. */
  get jsonUtf8(): Uint8Array | null {
    return this.utf8;
  }

  /** Copies the data as it arrived (UTF-8 JSON text or MessagePack) to `target` at `at`; returns the bytes written. */
  copyTo(target: Buffer, at: number): number {
    if (this.isMsgpack) {
      target.set(this.packed!, at);
      return this.packed!.byteLength;
    }
    if (this.utf8 !== null) {
      target.set(this.utf8, at);
      return this.utf8.byteLength;
    }
    return target.write(this.json!, at, 'utf8');
  }

  /** The data as JSON text (decoded, or converted by the rules above if it arrived as MessagePack, once). */
  asJson(): string {
    return (this.json ??= this.utf8 !== null ? this.utf8.toString('utf8') : jsonOfValue(unpackValue(this.packed!)));
  }

  /** The data as MessagePack (converted once if it arrived as JSON). */
  asMsgpack(): Uint8Array {
    return (this.packed ??= packValue(JSON.parse(this.asJson())));
  }
}
