/**
 * JwtSettings — the JWT options checked and read once, at start, on the main thread: the key
 * material (a secret, a public key's PEM, or a JWKS), the algorithms it allows, and the claim
 * rules. The result is plain data, so it travels to every shard inside the Config; each
 * shard's TokenVerifier turns it into keys.
 *
 * The algorithms allowed follow from the key type alone, never from a token: a secret allows
 * HS256/384/512; an RSA key RS* and PS*; an EC key the one ES* of its curve; an Ed25519 key
 * EdDSA. So `alg: none`, and an HS256 token "signed" with the public key's PEM as its secret
 * (algorithm confusion), are refused before any crypto runs.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../protocol/errors.js';

/** Shortest --jwt-secret, in bytes: an HMAC key shorter than its hash's output is guessable. */
export const MIN_SECRET_BYTES = 32;
/** Largest --jwt-leeway, seconds. */
export const MAX_LEEWAY = 300;

export interface JwtSettings {
  readonly source: 'secret' | 'public-key' | 'jwks';
  /** The HMAC secret (source 'secret'). */
  readonly secret: string | null;
  /** The public key as SPKI PEM (source 'public-key'). */
  readonly publicKeyPem: string | null;
  /** The key set, public keys only (source 'jwks'). */
  readonly jwks: { readonly keys: readonly JsonWebKey[] } | null;
  readonly algorithms: readonly string[];
  readonly audience: string | null;
  readonly issuer: string | null;
  /** Seconds of clock skew allowed on exp and nbf. */
  readonly leeway: number;
}

export interface JwtOptions {
  jwtSecret: string | null;
  jwtPublicKey: string | null;
  jwksFile: string | null;
  jwtAudience: string | null;
  jwtIssuer: string | null;
  jwtLeeway: number;
}

const HS = ['HS256', 'HS384', 'HS512'];
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'ES256',
  'P-256': 'ES256',
  secp384r1: 'ES384',
  'P-384': 'ES384',
  secp521r1: 'ES512',
  'P-521': 'ES512',
};

/** The JWT settings, or null when no key source is configured. Throws ConfigError. */
export function loadJwtSettings(o: JwtOptions): JwtSettings | null {
  const given = (['jwtSecret', 'jwtPublicKey', 'jwksFile'] as const).filter((k) => o[k] !== null);
  if (given.length === 0) {
    for (const k of ['jwtAudience', 'jwtIssuer'] as const) {
      if (o[k] !== null) throw new ConfigError(k, o[k], 'only with a key source (--jwt-secret, --jwt-public-key or --jwks-file)');
    }
    return null;
  }
  if (given.length > 1) throw new ConfigError(given[1]!, '***', `one key source only; ${given.join(' and ')} were both given`);
  const common = { audience: o.jwtAudience, issuer: o.jwtIssuer, leeway: o.jwtLeeway };
  if (o.jwtSecret !== null) {
    if (Buffer.byteLength(o.jwtSecret) < MIN_SECRET_BYTES) throw new ConfigError('jwtSecret', '***', `at least ${MIN_SECRET_BYTES} bytes`);
    return Object.freeze({ source: 'secret', secret: o.jwtSecret, publicKeyPem: null, jwks: null, algorithms: HS, ...common });
  }
  if (o.jwtPublicKey !== null) {
    const pem = readText('jwtPublicKey', o.jwtPublicKey);
    if (/PRIVATE KEY/.test(pem)) throw new ConfigError('jwtPublicKey', o.jwtPublicKey, 'a public key (PEM "PUBLIC KEY"), not a private key: the server only verifies');
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new ConfigError('jwtPublicKey', o.jwtPublicKey, `a PEM public key (RSA, EC P-256/384/521 or Ed25519): ${(err as Error).message}`);
    }
    const algorithms = algorithmsOf(key);
    if (algorithms === null) throw new ConfigError('jwtPublicKey', o.jwtPublicKey, `an RSA, EC (P-256/384/521) or Ed25519 key, not ${key.asymmetricKeyType}`);
    const spki = key.export({ type: 'spki', format: 'pem' }).toString();
    return Object.freeze({ source: 'public-key', secret: null, publicKeyPem: spki, jwks: null, algorithms, ...common });
  }
  const file = o.jwksFile!;
  let set: unknown;
  try {
    set = JSON.parse(readText('jwksFile', file));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('jwksFile', file, 'a JSON Web Key Set ({"keys":[…]}): the file is not JSON');
  }
  const keys = (set as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError('jwksFile', file, 'a JSON Web Key Set with at least one key in "keys"');
  const algorithms = new Set<string>();
  for (const [i, entry] of (keys as unknown[]).entries()) {
    const jwk = (typeof entry === 'object' && entry !== null ? entry : {}) as { kid?: unknown; kty?: unknown };
    if (typeof jwk.kid !== 'string' || jwk.kid === '') {
      throw new ConfigError('jwksFile', file, `key ${i}: every key needs a "kid" (tokens pick their key by it)`);
    }
    if (jwk.kty === 'oct' || 'd' in jwk) throw new ConfigError('jwksFile', file, `key ${jwk.kid}: public keys only (no secret or private keys)`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch (err) {
      throw new ConfigError('jwksFile', file, `key ${jwk.kid}: not a usable public key: ${(err as Error).message}`);
    }
    const algs = algorithmsOf(key);
    if (algs === null) throw new ConfigError('jwksFile', file, `key ${jwk.kid}: an RSA, EC (P-256/384/521) or Ed25519 key`);
    for (const a of algs) algorithms.add(a);
  }
  return Object.freeze({ source: 'jwks', secret: null, publicKeyPem: null, jwks: { keys: keys as JsonWebKey[] }, algorithms: [...algorithms], ...common });
}

/** The JWS algorithms a public key can verify, or null for a key type not supported. */
function algorithmsOf(key: KeyObject): string[] | null {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA;
    case 'rsa-pss':
      return RSA.filter((a) => a.startsWith('PS'));
    case 'ec': {
      const alg = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg === undefined ? null : [alg];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return null;
  }
}

function readText(option: 'jwtPublicKey' | 'jwksFile', path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(option, path, `a readable file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
