/**
 * Labelled metrics — the families operators ask "why" with, each built at scrape time from
 * the shared counters (no message, no new per-event work): refusals by error code,
 * handshake failures by reason, disconnects by close code, deliveries by format, and the
 * publish → handed-to-uWS latency histogram. Every label takes a value from a fixed list
 * (codes.ts, counters.ts), never a channel name or a user id.
 */
import { Counter, type Registry } from 'prom-client';
import { CLOSE_CODES, LATENCY_BUCKETS_MS, type Counters } from '../transport/counters.js';

/** Refusals by the error code the caller got (docs/protocol.md, "Error codes"). */
const REFUSALS: Readonly<Record<string, (c: Counters) => number>> = {
  overloaded: (c) => c.total('rejectedOverloaded') + c.main('rejectedOverloaded'),
  rate_limited: (c) => c.total('rejectedRateLimited'),
  publish_forbidden: (c) => c.total('rejectedForbidden'),
  forbidden: (c) => c.total('forbiddenSubscribe') + c.total('forbiddenPublish'),
  too_many_channels: (c) => c.main('rejectedTooManyChannels'),
  payload_too_large: (c) => c.main('rejectedTooLarge'),
};

/** WebSocket upgrades refused, by reason (the HTTP error code, or the token's refusal reason). */
const HANDSHAKE_FAILURES: Readonly<Record<string, (c: Counters) => number>> = {
  too_many_connections: (c) => c.total('connectionsRefused'),
  too_many_connections_per_ip: (c) => c.total('connectionsRefusedPerIp'),
  handshake_rate_limited: (c) => c.total('handshakesRateLimited'),
  origin_not_allowed: (c) => c.total('originRefused'),
  token_missing: (c) => c.total('authRefusedMissing'),
  token_malformed: (c) => c.total('authRefusedMalformed'),
  token_signature: (c) => c.total('authRefusedSignature'),
  token_expired: (c) => c.total('authRefusedExpired'),
  token_not_yet_valid: (c) => c.total('authRefusedNotYetValid'),
  token_audience: (c) => c.total('authRefusedAudience'),
  token_issuer: (c) => c.total('authRefusedIssuer'),
  token_algorithm: (c) => c.total('authRefusedAlgorithm'),
};

export const REFUSAL_CODES = Object.keys(REFUSALS);
export const HANDSHAKE_FAILURE_REASONS = Object.keys(HANDSHAKE_FAILURES);
export const DISCONNECT_CODES = [...CLOSE_CODES.map(String), 'other'];

function byLabel(registry: Registry, name: string, help: string, label: string, values: Readonly<Record<string, (c: Counters) => number>>, counters: Counters): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [value, read] of Object.entries(values)) this.inc({ [label]: value }, read(counters));
    },
  });
}

export function addLabelledMetrics(registry: Registry, counters: Counters): void {
  byLabel(registry, 'shardcast_refusals_total', 'Publishes and subscribes refused, by the error code the caller got', 'code', REFUSALS, counters);
  byLabel(registry, 'shardcast_handshake_failures_total', 'WebSocket upgrades refused, by reason', 'reason', HANDSHAKE_FAILURES, counters);
  const closes: Record<string, (c: Counters) => number> = {};
  DISCONNECT_CODES.forEach((code, i) => {
    closes[code] = (c) => {
      let n = 0;
      for (let s = 0; s < c.shards; s++) n += c.closed(s, i);
      return n;
    };
  });
  byLabel(registry, 'shardcast_disconnects_total', 'WebSocket connections closed, by close code (sent or received; 1006: lost without a close frame; other: any code not listed)', 'code', closes, counters);
  byLabel(registry, 'shardcast_deliveries_total', 'Messages handed to uWS for local subscribers, by the connection\'s format', 'format', {
    json: (c) => c.total('deliveries') - c.total('deliveriesMsgpack'),
    msgpack: (c) => c.total('deliveriesMsgpack'),
  }, counters);
  registry.registerMetric(latencyHistogram(counters) as never);
}

/**
 * publish accepted → handed to uWS, as a Prometheus histogram summed over the shards' fixed
 * buckets (prom-client's Histogram cannot be set from outside, so this is a collector of
 * its own shape: the registry only calls get()).
 */
function latencyHistogram(counters: Counters): object {
  const name = 'shardcast_delivery_latency_seconds';
  const help = 'Time from a publication accepted on the main thread (first message of a merge window) to its frame handed to uWS on a shard with subscribers of it; one observation per publication and shard';
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
      let cumulative = 0;
      for (let b = 0; b <= LATENCY_BUCKETS_MS.length; b++) {
        for (let s = 0; s < counters.shards; s++) cumulative += counters.latency(s, b);
        const le = b < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[b]! / 1000 : '+Inf';
        values.push({ metricName: `${name}_bucket`, labels: { le }, value: cumulative });
      }
      let sumUs = 0;
      for (let s = 0; s < counters.shards; s++) sumUs += counters.latency(s, -1);
      values.push({ metricName: `${name}_sum`, labels: {}, value: sumUs / 1e6 }, { metricName: `${name}_count`, labels: {}, value: cumulative });
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset() {},
  };
}
