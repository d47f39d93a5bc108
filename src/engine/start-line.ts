/** The start-up log lines: where the server listens, and what a connection without a token may do. */
import type { Config } from './config.js';
import { isLoopback } from './closed-by-default.js';

export function listeningLine(config: Config, port: number, ipc: boolean): string {
  return `shardcast listening on ${config.host}:${port}${config.tlsCert === null ? '' : ' (TLS: wss:// and https://)'} with ${config.workers} shard(s)` +
    (ipc ? `, IPC socket ${config.ipcSocket}` : '') +
    (config.broker === 'redis' ? (config.redisCluster ? ', Redis broker (cluster)' : ', Redis broker') : '') +
    (config.apiKeys.length === 0 ? ' (no API key: loopback only)' : config.apiKeys.length > 1 ? ` (${config.apiKeys.length} API keys)` : '');
}

/** The start-up line that says what a connection without a token may do. */
export function anonymousSummary(config: Config): string {
  const list = (p: readonly string[]): string => (p.length === 0 ? 'no channel' : p.includes('*') ? 'every channel' : p.join(','));
  return `anonymous WebSocket connections allowed: they may subscribe to ${list(config.anonymousChannels)} and publish to ${list(config.clientPublish)}` +
    (isLoopback(config.host) ? ' (loopback: open for local development)' : '');
}
