/**
 * The options that name files or carry secrets — API keys (--api-key, --api-key-file) and TLS
 * (--tls-cert, --tls-key, --tls-ca) — read and checked once, at start, by resolveConfig: a bad
 * file stops start-up with a ConfigError naming the option, the file and the reason, and never
 * showing a key.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../protocol/errors.js';
import type { Config, Options } from './config.js';

/** Shortest API key, and the most keys at once (rotation needs two or three). */
const MIN_API_KEY = 8;
const MAX_API_KEYS = 100;

/**
 * The API keys of --api-key (one, or comma-separated) and --api-key-file (one per line). A
 * key is shown in no message: a refusal names the option and, for the file, the line.
 */
export function readApiKeys(options: Options): readonly string[] {
  const keys: string[] = [];
  const check = (key: string, option: 'apiKey' | 'apiKeyFile', where: string): void => {
    if (key.length < MIN_API_KEY) throw new ConfigError(option, where, `keys of at least ${MIN_API_KEY} characters`);
    // a key travels in an HTTP header: visible ASCII only (a space would be cut at a proxy)
    if (!/^[\x21-\x7e]+$/.test(key)) throw new ConfigError(option, where, 'keys of visible ASCII characters, without spaces');
    keys.push(key);
  };
  const given = str(options, 'apiKey');
  if (given !== null) {
    const list = given.split(',').map((k) => k.trim());
    list.forEach((k, i) => check(k, 'apiKey', list.length === 1 ? '***' : `*** (key ${i + 1} of ${list.length})`));
  }
  const file = str(options, 'apiKeyFile');
  if (file !== null) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError('apiKeyFile', file, `a readable file of API keys, one per line (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const before = keys.length;
    text.split(/\r?\n/).forEach((line, i) => {
      const key = line.trim();
      if (key !== '' && !key.startsWith('#')) check(key, 'apiKeyFile', `${file} line ${i + 1}`);
    });
    if (keys.length === before) throw new ConfigError('apiKeyFile', file, 'a file with at least one API key (one per line; blank lines and # comments are ignored)');
  }
  if (keys.length > MAX_API_KEYS) throw new ConfigError(given !== null ? 'apiKey' : 'apiKeyFile', `${keys.length} keys`, `at most ${MAX_API_KEYS} API keys`);
  return Object.freeze([...new Set(keys)]);
}

/**
 * The TLS files, checked now so that a bad one stops start-up with its name and the reason
 * (uWS would only say "App construction failed" in every shard): both or neither of cert and
 * key, each a readable PEM file, the key the certificate's, the chain starting with its issuer.
 */
export function readTls(options: Options): Pick<Config, 'tlsCert' | 'tlsKey' | 'tlsCa'> {
  const cert = str(options, 'tlsCert');
  const key = str(options, 'tlsKey');
  const ca = str(options, 'tlsCa');
  if (cert === null && key === null) {
    if (ca !== null) throw new ConfigError('tlsCa', ca, 'only with --tls-cert and --tls-key (it is their certificate chain)');
    return { tlsCert: null, tlsKey: null, tlsCa: null };
  }
  if (cert === null) throw new ConfigError('tlsKey', key, 'only with --tls-cert (the certificate of this key)');
  if (key === null) throw new ConfigError('tlsCert', cert, 'together with --tls-key (the private key of this certificate)');
  const read = (option: 'tlsCert' | 'tlsKey' | 'tlsCa', path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(option, path, `a readable PEM file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(read('tlsCert', cert));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('tlsCert', cert, `a PEM certificate (-----BEGIN CERTIFICATE-----); ${(err as Error).message}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(read('tlsKey', key));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('tlsKey', key, `an unencrypted PEM private key; ${(err as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError('tlsKey', key, `the private key of --tls-cert ${cert}, but it does not match that certificate`);
  }
  if (ca !== null) {
    let issuer: X509Certificate;
    try {
      issuer = new X509Certificate(read('tlsCa', ca));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError('tlsCa', ca, `PEM certificates (-----BEGIN CERTIFICATE-----); ${(err as Error).message}`);
    }
    if (!certificate.checkIssued(issuer)) {
      throw new ConfigError('tlsCa', ca, `the chain of --tls-cert ${cert}: its first certificate must be the issuer of that certificate (${certificate.issuer.replace(/\n/g, ', ')})`);
    }
  }
  return { tlsCert: cert, tlsKey: key, tlsCa: ca };
}

/** A string option, or null when not given. */
function str(o: Options, key: 'apiKey' | 'apiKeyFile' | 'tlsCert' | 'tlsKey' | 'tlsCa'): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(key, key === 'apiKey' ? '***' : v, 'a non-empty string');
  return v;
}
