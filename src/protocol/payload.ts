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
    private json: string | null,
    private packed: Uint8Array | null,
  ) {}

  /** Data that arrived as JSON text (validated by the ingress). */
  static json(text: string): Payload {
    return new Payload(text, null);
  }

  /** Data that arrived as MessagePack bytes (re-encoded by the ingress, so well formed). */
  static msgpack(bytes: Uint8Array): Payload {
    return new Payload(null, bytes);
  }

  /** JSON text or MessagePack bytes, as a ring record carries them (records.ts). */
  static of(data: string | Uint8Array): Payload {
    return typeof data === 'string' ? new Payload(data, null) : new Payload(null, data);
  }

  /** The data as a ring record carries it: JSON text, or MessagePack bytes if it arrived so. */
  get raw(): string | Uint8Array {
    return this.json ?? this.packed!;
  }

  /** Whether the data arrived as MessagePack. */
  get isMsgpack(): boolean {
    return this.json === null;
  }

  /** Bytes of the data as it arrived. */
  get byteLength(): number {
    return this.json !== null ? Buffer.byteLength(this.json) : this.packed!.byteLength;
  }

  /** The data as JSON text (converted once, by the rules above, if it arrived as MessagePack). */
  asJson(): string {
    return (this.json ??= jsonOfValue(unpackValue(this.packed!)));
  }

  /** The data as MessagePack (converted once if it arrived as JSON). */
  asMsgpack(): Uint8Array {
    return (this.packed ??= packValue(JSON.parse(this.json!)));
  }
}
