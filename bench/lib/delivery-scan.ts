/**
 * Extracts (seq, index) from delivery frames without JSON.parse: at ten million deliveries
 * per run a full parse per frame would make the client, not the server, the bottleneck.
 *
 * A frame is either one message object or an array of them. Each message object carries
 * exactly one `"seq":` (server) and one `"i":` (our data, see payload.ts), so the n-th
 * occurrence of each marker belongs to the n-th message whatever the key order. Searches use
 * Buffer#indexOf (native memmem). Frames without an `"i":` marker are control frames and the
 * caller parses them properly.
 */
export const MARK_SEQ = Buffer.from('"seq":');
export const MARK_INDEX = Buffer.from('"i":');
export const MARK_TIME = Buffer.from('"t":');

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/** Non-negative integer starting at `pos` (leading spaces allowed); -1 if there is none. */
export function readUint(buf: Buffer, pos: number): number {
  let c = buf[pos];
  while (c === 0x20) c = buf[++pos];
  let n = -1;
  while (c !== undefined && c >= 0x30 && c <= 0x39) {
    n = (n < 0 ? 0 : n * 10) + (c - 0x30);
    c = buf[++pos];
  }
  return n;
}

export interface DeliveryVisitor {
  /** `indexPos` is where `"i":` starts, so a sampler can look for `"t":` right after it. */
  delivery(seq: number, index: number, buf: Buffer, indexPos: number): void;
}

/** Visits each delivery in buf[start, end); returns how many it found (0 = control frame). */
export function scanDeliveries(buf: Buffer, start: number, end: number, visitor: DeliveryVisitor): number {
  const first = buf[start];
  if (first === OPEN_BRACE) {
    // A search past `end` would only run into the next frame, so one unbounded search is fine.
    const ki = buf.indexOf(MARK_INDEX, start);
    if (ki < 0 || ki >= end) return 0;
    const ks = buf.indexOf(MARK_SEQ, start);
    const seq = ks >= 0 && ks < end ? readUint(buf, ks + MARK_SEQ.length) : -1;
    visitor.delivery(seq, readUint(buf, ki + MARK_INDEX.length), buf, ki);
    return 1;
  }
  if (first !== OPEN_BRACKET) return 0;
  // Batched frame: bound the repeated searches to this frame with a view.
  const view = buf.subarray(start, end);
  let found = 0;
  let fromI = 0;
  let fromS = 0;
  for (;;) {
    const ki = view.indexOf(MARK_INDEX, fromI);
    if (ki < 0) break;
    const ks = view.indexOf(MARK_SEQ, fromS);
    const seq = ks >= 0 ? readUint(view, ks + MARK_SEQ.length) : -1;
    visitor.delivery(seq, readUint(view, ki + MARK_INDEX.length), view, ki);
    found++;
    fromI = ki + MARK_INDEX.length;
    if (ks >= 0) fromS = ks + MARK_SEQ.length;
  }
  return found;
}
