/**
 * The shard's uWS app: plain, or TLS (wss:// and https://) with --tls-cert/--tls-key.
 *
 * uSockets takes a certificate chain only from the certificate file (its ca_file_name is
 * something else: the CA of *client* certificates, which would make the server ask browsers
 * for one). So --tls-ca is appended to the certificate in a private temporary file, which
 * only needs to exist while the app is built: uSockets reads the files then, once.
 * The configuration has checked the files already; this is the second line, for a file that
 * changed or vanished since (a shard restarted much later reads them again).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../engine/config.js';
import { uws, type TemplatedApp } from '../transport/uws.js';

export function createApp(config: Pick<Config, 'tlsCert' | 'tlsKey' | 'tlsCa'>, shard: number): TemplatedApp {
  if (config.tlsCert === null || config.tlsKey === null) return uws.App();
  let dir: string | null = null;
  try {
    let cert = config.tlsCert;
    if (config.tlsCa !== null) {
      dir = mkdtempSync(join(tmpdir(), 'shardcast-tls-'));
      cert = join(dir, 'chain.pem');
      const own = readFileSync(config.tlsCert, 'utf8');
      writeFileSync(cert, `${own}${own.endsWith('\n') ? '' : '\n'}${readFileSync(config.tlsCa, 'utf8')}`, { mode: 0o600 });
    }
    return uws.SSLApp({ cert_file_name: cert, key_file_name: config.tlsKey });
  } catch (err) {
    throw new Error(
      `shard ${shard} could not serve TLS with --tls-cert ${config.tlsCert} and --tls-key ${config.tlsKey}` +
        `${config.tlsCa === null ? '' : ` and --tls-ca ${config.tlsCa}`}: ${(err as Error).message} ` +
        '(a file unreadable or not PEM, or a key that does not match the certificate)',
    );
  } finally {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  }
}
