/** Shardcast's public API. */
export { startServer, type ShardcastServer, type Stats, type ChannelInfo } from './engine/engine.js';
export { resolveConfig, type Options, type Config } from './engine/config.js';
export { ErrorCode, CloseCode, shouldReconnect } from './protocol/codes.js';
export { userChannel } from './protocol/user-channel.js';
export { ShardcastError, ConfigError } from './protocol/errors.js';
export { IpcClient, type IpcReply } from './ingress/ipc-client.js';
