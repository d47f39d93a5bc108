#!/usr/bin/env node
/**
 * The `shardcast` command: `serve` runs the server, `publish` sends one message through the
 * IPC socket or the HTTP API. Flags override SHARDCAST_* variables; both are validated once
 * by resolveConfig, and unknown flags are errors.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BenchUsageError } from './bench/options.js';
import { optionsFromEnv, resolveConfig, specs, type Options } from './engine/config.js';
import { ConfigError, ShardcastError } from './protocol/errors.js';
import { IpcClient } from './ingress/ipc-client.js';
import { createLogger } from './engine/logger.js';
import { UwsUnavailableError } from './transport/uws-choice.js';
import type { ShardcastServer } from './engine/engine.js';

const USAGE = `shardcast — a multi-core WebSocket broadcast engine

Usage:
  shardcast serve [options]                     run the server
  shardcast publish [--ipc-socket PATH | --url URL [--api-key KEY | --api-key-file FILE]] CHANNEL DATA
                                                publish DATA (a JSON value) on CHANNEL
  shardcast bench --url ws://HOST:PORT/ws [options]
                                                load-test a deployment (see shardcast bench --help)
  shardcast --help | --version

Serve options (each also as an environment variable):
${Object.values(specs)
  .filter((s) => !s.hidden)
  .map((s) => `  ${(s.kind === 'bool' ? `${s.flag} / --no-${s.flag.slice(2)}` : s.kind === 'patterns' ? `${s.flag} <patterns> / --no-${s.flag.slice(2)}` : `${s.flag} <${s.kind === 'size' ? 'bytes' : s.kind === 'int' ? 'n' : 'value'}>`).padEnd(32)} ${s.env}\n      ${s.help}`)
  .join('\n')}

Publish options:
  --ipc-socket PATH   the server's IPC socket (default: $SHARDCAST_IPC_SOCKET)
  --url URL           the server's HTTP base, e.g. http://127.0.0.1:8080 (instead of IPC)
  --api-key KEY       bearer key for --url (default: $SHARDCAST_API_KEY; of a list, the first)
  --api-key-file FILE the key's file, its first key (default: $SHARDCAST_API_KEY_FILE)
  --id ID             ack id to ask for (IPC)

Exit codes: 0 ok, 1 runtime error, 2 bad usage or configuration.
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case '--version':
    case '-v':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'serve':
      return serve(rest);
    case 'publish':
      return publish(rest);
    case 'bench':
      // loaded on demand: the bench pulls in piscina and the histogram code, serve does not need them
      return (await import('./bench/command.js')).benchCommand(rest);
    default:
      throw new UsageError(`unknown command "${command}"; see shardcast --help`);
  }
}

function serveFlags(): Record<string, { type: 'string' | 'boolean' }> {
  const flags: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const s of Object.values(specs)) {
    const name = s.flag.slice(2);
    if (s.kind === 'bool') {
      flags[name] = { type: 'boolean' };
      flags[`no-${name}`] = { type: 'boolean' };
    } else if (s.kind === 'patterns') {
      flags[name] = { type: 'string' };
      flags[`no-${name}`] = { type: 'boolean' };
    } else {
      flags[name] = { type: 'string' };
    }
  }
  return flags;
}

async function serve(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, serveFlags());
  if (values['help']) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got "${positionals.join(' ')}"`);
  const options: Record<string, unknown> = { ...optionsFromEnv(process.env) };
  for (const [key, s] of Object.entries(specs)) {
    const name = s.flag.slice(2);
    if (s.kind === 'bool' || s.kind === 'patterns') {
      if (values[name] !== undefined && values[`no-${name}`]) throw new UsageError(`give ${s.flag} or --no-${name}, not both`);
      if (values[name] !== undefined) options[key] = values[name];
      if (values[`no-${name}`]) options[key] = false;
    } else if (values[name] !== undefined) {
      options[key] = values[name];
    }
  }
  const config = resolveConfig(options as Options);
  const log = createLogger(config.logLevel, (line) => process.stdout.write(line), config.logFormat);
  // imported here, not at the top: the engine loads the native uWS binary, and when none fits this
  // Node, the user should get uws-choice's one sentence, not a stack trace from module loading
  const { startWithConfig } = await import('./engine/engine.js');
  // the signal handlers come before start-up: a signal during it (a supervisor that stops a
  // service it has just started) must not meet the default action, which kills the process
  // with its shards holding sockets; a stop then waits for start-up to finish
  let server: ShardcastServer | null = null;
  let early = null as { why: string; code: number } | null; // (set by a handler: not narrowed)
  let signals = 0;
  const stop = (why: string, code: number): void => {
    if (server === null) return void (early ??= { why, code });
    if (signals++ > 0) return void log.warn(`${why} again: already shutting down`, { event: 'shutdown', reason: why });
    log.info(`${why}: shutting down`, { event: 'shutdown', reason: why });
    server.close().then(
      () => process.exit(code),
      (err: Error) => {
        log.error(`shutdown failed: ${err.message}`, { event: 'shutdown_failed' });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM', 0));
  process.on('SIGINT', () => stop('SIGINT', 0));
  // key rotation without dropping a connection: read the key files again (docs/security.md);
  // during start-up they are being read anyway
  process.on('SIGHUP', () => {
    server?.reloadCredentials().then(
      (s) => log.info(`SIGHUP: credentials reloaded: ${s.apiKeys} API key(s)${s.jwt === null ? '' : `, JWT ${s.jwt} with ${s.jwtKeys} key(s)`}`),
      (err: Error) => log.error(`SIGHUP: credentials not reloaded, the previous ones stay in force: ${err.message}`),
    );
  });
  server = await startWithConfig(config, log);
  if (early !== null) stop(early.why, early.code);
  // a bug on the main thread must not end the process while shards hold sockets (that
  // aborts it): log it and shut down properly, exiting 1
  const crash = (err: unknown): void => {
    log.error(`fatal error on the main thread: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, { event: 'fatal' });
    stop('fatal error', 1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  return new Promise<number>(() => {}); // runs until a signal
}

async function publish(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    'ipc-socket': { type: 'string' },
    url: { type: 'string' },
    'api-key': { type: 'string' },
    'api-key-file': { type: 'string' },
    id: { type: 'string' },
  });
  if (positionals.length !== 2) throw new UsageError('publish takes CHANNEL and DATA (a JSON value, e.g. \'{"score":3}\' or \'"text"\')');
  const [channel, raw] = positionals as [string, string];
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    throw new UsageError(`DATA must be JSON; to send a string, quote it: '${JSON.stringify(raw)}'`);
  }
  const url = values['url'] as string | undefined;
  const socket = (values['ipc-socket'] as string | undefined) ?? (url ? undefined : process.env['SHARDCAST_IPC_SOCKET']);
  if (socket && url) throw new UsageError('give --ipc-socket or --url, not both');
  if (socket) {
    const client = await IpcClient.connect(socket);
    try {
      const seq = await client.publish(channel, data, values['id'] as string | undefined);
      process.stdout.write(`${JSON.stringify({ channel, seq })}\n`);
    } finally {
      await client.close();
    }
    return 0;
  }
  if (!url) throw new UsageError('publish needs --ipc-socket PATH or --url URL');
  const keyFile = (values['api-key-file'] as string | undefined) ?? process.env['SHARDCAST_API_KEY_FILE'];
  // a list (rotation) or a file: the first key is the one to send
  const keys = (values['api-key'] as string | undefined) ?? process.env['SHARDCAST_API_KEY'] ?? (keyFile ? readFileSync(keyFile, 'utf8') : undefined);
  const key = keys?.split(/[,\n]/).map((k) => k.trim()).find((k) => k !== '' && !k.startsWith('#'));
  const res = await fetch(new URL('/api/publish', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ channel, data }),
  });
  const body = await res.text();
  if (!res.ok) {
    process.stderr.write(`publish failed: HTTP ${res.status} ${body}\n`);
    return 1;
  }
  process.stdout.write(`${body}\n`);
  return 0;
}

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof BenchUsageError) {
      process.stderr.write(`shardcast: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof UwsUnavailableError) {
      process.stderr.write(`shardcast: ${err.message}\n`);
      process.exit(1);
    }
    if (err instanceof ShardcastError) {
      process.stderr.write(`shardcast: ${err.code}: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`shardcast: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
