/**
 * A real server with an IPC socket in a fresh temporary directory, and an IPC client
 * connected to it — the fixture of tests that publish over every ingress. close() closes
 * the given clients, the IPC client and the server, and removes the directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type Options, type ShardcastServer } from '../../src/index.js';
import { IpcClient } from '../../src/ingress/ipc-client.js';
import type { TestClient } from './client.js';

export interface ServerWithIpc {
  readonly server: ShardcastServer;
  readonly ipc: IpcClient;
  close(clients: readonly TestClient[]): Promise<void>;
}

export async function startWithIpc(options: Options): Promise<ServerWithIpc> {
  const dir = mkdtempSync(join(tmpdir(), 'shardcast-ipc-'));
  let server: ShardcastServer | null = null;
  try {
    server = await startServer({ ...options, ipcSocket: join(dir, 'ipc.sock') });
    const ipc = await IpcClient.connect(join(dir, 'ipc.sock'));
    const s = server;
    return {
      server: s,
      ipc,
      async close(clients) {
        for (const c of clients) c.close();
        await ipc.close();
        await s.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
