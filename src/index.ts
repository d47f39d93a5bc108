/** Shardcast's public API. */
export { startServer, type ShardcastServer, type Stats, type ChannelInfo } from './server.js';
export { resolveConfig, type Options, type Config } from './config.js';
export { ErrorCode, CloseCode, shouldReconnect } from './codes.js';
export { ShardcastError, ConfigError } from './errors.js';
export { IpcClient, type IpcReply } from './ipc-client.js';
