/** --broker, --redis-url and --redis-cluster, checked at start (a typo in a URL stops start-up, naming it). */
import { ConfigError } from '../protocol/errors.js';
import type { Config } from './config.js';

const BROKERS = ['memory', 'redis'] as const;

/** --broker, --redis-url and --redis-cluster: every URL is checked here, so that a typo stops start-up. */
export function readBroker(given: string | null, url: string | null, cluster: boolean): Pick<Config, 'broker' | 'redisUrl' | 'redisCluster'> {
  const broker = given ?? 'memory';
  if (!(BROKERS as readonly string[]).includes(broker)) throw new ConfigError('broker', broker, `one of ${BROKERS.join(', ')}`);
  if (broker === 'memory') {
    if (url !== null) throw new ConfigError('redisUrl', url, 'only with broker redis (--broker redis)');
    if (cluster) throw new ConfigError('redisCluster', true, 'only with broker redis (--broker redis)');
    return { broker, redisUrl: null, redisCluster: false };
  }
  const redisUrl = url ?? 'redis://127.0.0.1:6379';
  const urls = redisUrl.split(',').map((u) => u.trim());
  if (urls.length > 1 && !cluster) throw new ConfigError('redisUrl', hide(redisUrl), 'one URL; several (comma-separated) are the seed nodes of a Redis Cluster: add --redis-cluster');
  const parsed = urls.map(checkUrl);
  if (cluster) {
    const first = parsed[0]!;
    for (const u of parsed) {
      if (u.pathname.length > 1 && u.pathname !== '/0') throw new ConfigError('redisUrl', hide(u.href), 'no database number with --redis-cluster (a Redis Cluster has database 0 only)');
      if (u.protocol !== first.protocol || u.username !== first.username || u.password !== first.password) {
        throw new ConfigError('redisUrl', hide(redisUrl), 'seed nodes of one scheme and one set of credentials (every node of a Redis Cluster is reached the same way)');
      }
    }
  }
  return { broker: 'redis', redisUrl: urls.join(','), redisCluster: cluster };
}

/** A URL without its credentials (they would end up in logs). */
const hide = (url: string): string => url.replace(/\/\/[^/@]*@/g, '//***@');

function checkUrl(redisUrl: string): URL {
  const shown = hide(redisUrl);
  let u: URL;
  try {
    u = new URL(redisUrl);
  } catch {
    throw new ConfigError('redisUrl', shown, 'a URL: redis://[user:password@]host[:port][/db] or rediss://… (TLS)');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError('redisUrl', shown, 'a redis:// or rediss:// (TLS) URL');
  if (u.hostname === '') throw new ConfigError('redisUrl', shown, 'a URL with a host: redis://host[:port][/db]');
  if (!/^(\/(\d{1,5})?)?$/.test(u.pathname)) throw new ConfigError('redisUrl', shown, 'a database number after the host (redis://host:6379/2), or none');
  return u;
}
