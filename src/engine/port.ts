/**
 * Claims the listening port before the shards start. Shards bind with SO_REUSEPORT (uWS's
 * default on Linux), which has two traps: with port 0 every shard would get a different
 * port (uSockets does not share an ephemeral port), and a second Shardcast started on the
 * same port would silently split the traffic with the first. A plain bind (Node sets no
 * SO_REUSEPORT) fails on any port already taken, and with port 0 picks a free one.
 */
import { createServer } from 'node:net';
import { ConfigError } from '../protocol/errors.js';

export function claimPort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new ConfigError('port', port, `a free port: ${host}:${port} is already in use (is another server running?)`)
        : err);
    });
    probe.listen({ host, port, exclusive: true }, () => {
      const got = (probe.address() as { port: number }).port;
      probe.close(() => resolve(got));
    });
  });
}
