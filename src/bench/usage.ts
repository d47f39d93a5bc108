/** The text of `shardcast bench --help`: every option, its default and what it does. */
import { DEFAULTS, MIN_SIZE } from './options.js';

export const BENCH_USAGE = `shardcast bench — load-test a Shardcast deployment

Usage:
  shardcast bench --url ws[s]://HOST:PORT/ws [--url …] [options]
  shardcast bench ws[s]://HOST:PORT/ws [options]

Opens --connections WebSocket clients (ramped at --ramp per second), subscribes connection i
to channel PREFIX<i % channels>, publishes timestamped messages through the chosen ingress,
then reports deliveries, losses, duplicates, seq gaps, latency percentiles and costs.
Several --url (the nodes of one deployment, e.g. on one Redis): connection i goes to URL
i % n; publishes go to the first node; /api/stats counters are summed over the nodes.

Load:
  --connections N       client connections (default ${DEFAULTS.connections})
  --channels N          channels the connections are spread over (default ${DEFAULTS.channels})
  --channel-prefix S    channel name prefix (default "${DEFAULTS.channelPrefix}")
  --ramp N              new connections per second (default ${DEFAULTS.rampPerSecond})
  --connect-timeout T   per connection: TCP + upgrade + subscribe (default ${DEFAULTS.connectTimeoutMs / 1000}s)
  --threads N           load threads (default: min(cores, connections / ${DEFAULTS.connectionsPerThread}))

Publishing:
  --publish http|ws|ipc ingress (default http; ipc when --ipc-socket is given)
  --rate R              open loop: R messages per second on a fixed schedule (default ${DEFAULTS.rate});
                        latency is measured from the scheduled time (no coordinated omission)
  --inflight N          closed loop instead: as fast as the server accepts, at most N outstanding;
                        latency is measured from the send time
  --size BYTES          size of each message's data, e.g. 256, 4k (default ${DEFAULTS.size}; min ${MIN_SIZE})
  --duration T          how long to publish, e.g. 30s, 500ms, 2m (default ${DEFAULTS.durationMs / 1000}s)
  --messages N          publish N messages (then stop; --duration, if given, still bounds it)
  --drain T             after the last publish, wait up to T for deliveries (default ${DEFAULTS.drainMs / 1000}s)
  --api-key KEY         bearer key for the HTTP API (default: $SHARDCAST_API_KEY)
  --ipc-socket PATH     the server's IPC socket (for --publish ipc)
  --http-url URL        HTTP base for publishing and /api/stats (default: derived from --url;
                        https:// for a wss:// URL)

TLS (a wss:// URL; https:// for the HTTP API, trusted the same way):
  --ca FILE             also trust this PEM CA certificate (a private CA, or the server's
                        self-signed certificate); the system's store is trusted either way
  --insecure            accept any certificate (a test box only; the report says so)

Authentication (a server with --jwt-secret, --jwt-public-key or --jwks-file):
  --token JWT           every connection presents this token (?token=)
  --token-file FILE     the same, read from a file
  --token-secret S      the server's HS256 secret: each connection mints its own token
                        (sub bench-<n>, every channel allowed), so every handshake is verified

Measuring and output:
  --server-pid PID      a local server's pid: its CPU and RSS are read from /proc; repeat it for
                        every process of a deployment (each node, Redis): they are summed
  --json FILE           write the report as JSON
  --html FILE           write the report as a self-contained HTML page
  --format json|msgpack the load connections' format, asked for at the handshake (default json;
                        msgpack: subprotocol shardcast.v1.msgpack, binary frames). Publishing is JSON

Slow consumers:
  --slow-fraction F     this share of the connections (e.g. 0.01) stops reading once subscribed and
                        resumes when publishing ends; the report says what the server did with them
                        (closed, by which code, or kept/skipped their messages). Expected, delivered
                        and lost then count the other (healthy) connections only

Reconnects (a server with history: --history-size):
  --reconnect-fraction F  this share of the connections is cut once while publishing (the TCP
                        connection destroyed, as a network drop would) and reconnects at once,
                        resubscribing with since (its last seq and the channel's epoch); every
                        message still counts: what a recovered connection missed must arrive,
                        what an unrecovered one missed is a seq gap. Not with --slow-fraction
  --reconnect-at T      when, after the first publish (default: half the publishing time)
  --reconnect-delay T   how long they stay away, an outage (default 0: they connect again at once)

  --help

Every run ends within ramp + connect timeout + duration + drain, and closes every connection
it opened. Exit codes: 0 the run completed, 1 it could not (nothing connected, nothing
accepted, interrupted), 2 bad usage.
`;
