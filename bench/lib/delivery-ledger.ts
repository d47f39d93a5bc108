/**
 * Per-thread accounting of deliveries for one measured pass: which publish indexes each
 * connection received (so losses and duplicates are exact, per connection), whether the
 * server seq ever went backwards on a connection, and a latency histogram fed from a sample
 * of connections.
 */
import { MARK_TIME, readUint, type DeliveryVisitor } from './delivery-scan.js';
import { LatencyHistogram } from './latency-histogram.js';

export interface LedgerReport {
  connections: number;
  expectedPerConnection: number;
  received: number;
  duplicates: number;
  /** Deliveries whose index lies outside the current pass (late arrivals from an earlier pass). */
  strays: number;
  /** Deliveries whose seq was not greater than the previous one on the same connection. */
  reordered: number;
  /** Connections that did not receive every message of the pass. */
  incompleteConnections: number;
  minPerConnection: number;
  maxPerConnection: number;
  lastDeliveryMicros: number;
  histogram: number[];
  latencySamples: number;
  /** perIndex[k] = connections that received publish base + k (first copies only). */
  perIndex: number[];
}

export class DeliveryLedger implements DeliveryVisitor {
  private seen = new Uint8Array(0);
  private perConn = new Uint32Array(0);
  private perIndex = new Uint32Array(0);
  private readonly lastSeq: Float64Array;
  private base = 0;
  private messages = 0;
  private histogram = new LatencyHistogram();
  received = 0;
  duplicates = 0;
  strays = 0;
  reordered = 0;
  lastDeliveryMicros = 0;

  // Set by the caller before each scan, so `delivery()` needs no extra arguments.
  private conn = 0;
  private sampled = false;
  private nowMicros = 0;

  constructor(private readonly connections: number, private readonly sampleEvery: number) {
    this.lastSeq = new Float64Array(connections).fill(-1);
  }

  /** Starts a pass whose publish indexes are [base, base + messages). */
  startPass(base: number, messages: number): void {
    this.base = base;
    this.messages = messages;
    this.seen = new Uint8Array(this.connections * messages);
    this.perConn = new Uint32Array(this.connections);
    this.perIndex = new Uint32Array(messages);
    this.histogram = new LatencyHistogram();
    this.received = this.duplicates = this.strays = this.reordered = 0;
    this.lastDeliveryMicros = 0;
  }

  /** Call before scanning a frame received at `nowMicros` on local connection `conn`. */
  at(conn: number, nowMicros: number): void {
    this.conn = conn;
    this.sampled = conn % this.sampleEvery === 0;
    this.nowMicros = nowMicros;
  }

  delivery(seq: number, index: number, buf: Buffer, indexPos: number): void {
    const conn = this.conn;
    if (seq >= 0) {
      if (seq <= this.lastSeq[conn]!) this.reordered++;
      this.lastSeq[conn] = seq;
    }
    const k = index - this.base;
    if (index < 0 || k < 0 || k >= this.messages) {
      this.strays++;
      return;
    }
    const slot = conn * this.messages + k;
    if (this.seen[slot] !== 0) {
      this.duplicates++;
      return;
    }
    this.seen[slot] = 1;
    this.perConn[conn]!++;
    this.perIndex[k]!++;
    this.received++;
    this.lastDeliveryMicros = this.nowMicros;
    if (this.sampled) {
      const kt = buf.indexOf(MARK_TIME, indexPos);
      if (kt >= 0) this.histogram.record(this.nowMicros - readUint(buf, kt + MARK_TIME.length));
    }
  }

  report(): LedgerReport {
    let incomplete = 0;
    let min = Infinity;
    let max = 0;
    for (let c = 0; c < this.connections; c++) {
      const n = this.perConn[c]!;
      if (n < this.messages) incomplete++;
      if (n < min) min = n;
      if (n > max) max = n;
    }
    return {
      connections: this.connections,
      expectedPerConnection: this.messages,
      received: this.received,
      duplicates: this.duplicates,
      strays: this.strays,
      reordered: this.reordered,
      incompleteConnections: incomplete,
      minPerConnection: this.connections === 0 ? 0 : min,
      maxPerConnection: max,
      lastDeliveryMicros: this.lastDeliveryMicros,
      histogram: Array.from(this.histogram.counts),
      latencySamples: this.histogram.total,
      perIndex: Array.from(this.perIndex),
    };
  }
}
