/** --broker and --redis-url, checked at start (a typo in the URL stops start-up, naming it). */
import { ConfigError } from '../protocol/errors.js';
import type { Config } from './config.js';

const BROKERS = ['memory', 'redis'] as const;

/** --broker and --redis-url: the URL is checked here, so that a typo stops start-up. */
export function readBroker(given: string | null, url: string | null): Pick<Config, 'broker' | 'redisUrl'> {
  const broker = given ?? 'memory';
  if (!(BROKERS as readonly string[]).includes(broker)) throw new ConfigError('broker', broker, `one of ${BROKERS.join(', ')}`);
  if (broker === 'memory') {
    if (url !== null) throw new ConfigError('redisUrl', url, 'only with broker redis (--broker redis)');
    return { broker, redisUrl: null };
  }
  const redisUrl = url ?? 'redis://127.0.0.1:6379';
  // an error names the URL without its credentials (they would end up in logs)
  const shown = redisUrl.replace(/\/\/[^/@]*@/, '//***@');
  let u: URL;
  try {
    u = new URL(redisUrl);
  } catch {
    throw new ConfigError('redisUrl', shown, 'a URL: redis://[user:password@]host[:port][/db] or rediss://… (TLS)');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError('redisUrl', shown, 'a redis:// or rediss:// (TLS) URL');
  if (u.hostname === '') throw new ConfigError('redisUrl', shown, 'a URL with a host: redis://host[:port][/db]');
  if (!/^(\/(\d{1,5})?)?$/.test(u.pathname)) throw new ConfigError('redisUrl', shown, 'a database number after the host (redis://host:6379/2), or none');
  return { broker: 'redis', redisUrl };
}
