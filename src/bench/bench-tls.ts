/**
 * BenchTls — how the bench client trusts a `wss://` / `https://` server: the system's CA store,
 * plus a CA given with `--ca FILE` (a private CA, or a self-signed certificate), or no check
 * at all with `--insecure` (a test box; the report says so). Read and checked once, before the
 * run, so a bad file is a usage error and not 10,000 failed handshakes.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { BenchUsageError } from './options.js';

export interface BenchTls {
  /** PEM of the extra CA(s) to trust; null: the system's store only. */
  readonly ca: string | null;
  /** False with --insecure: any certificate is accepted. */
  readonly verify: boolean;
}

/** The TLS settings of a run, or null for ws:// and http://. */
export function readBenchTls(secure: boolean, caFile: string | null, insecure: boolean): BenchTls | null {
  if (!secure) {
    if (caFile !== null || insecure) throw new BenchUsageError(`${caFile !== null ? '--ca' : '--insecure'} is only for a wss:// URL`);
    return null;
  }
  if (caFile !== null && insecure) throw new BenchUsageError('give --ca FILE or --insecure, not both');
  if (caFile === null) return { ca: null, verify: !insecure };
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
    new X509Certificate(pem); // the first certificate must parse; Node takes the rest as a chain
  } catch (err) {
    throw new BenchUsageError(`invalid --ca ${JSON.stringify(caFile)}: a readable PEM certificate file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return { ca: pem, verify: true };
}

/** Options for tls.connect / https.Agent: SNI only for a host name (not an address). */
export function tlsConnectOptions(t: BenchTls, host: string): ConnectionOptions {
  return {
    ...(t.ca !== null ? { ca: t.ca } : {}),
    rejectUnauthorized: t.verify,
    ...(isIP(host) === 0 ? { servername: host } : {}),
  };
}
