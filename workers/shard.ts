/**
 * Shard worker entry: wires a Shard to its thread. Everything a shard does is in
 * src/shard/; this file only connects it to workerData, parentPort and process events.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromShard, ShardInit, ToShard } from '../src/engine/control.js';
import { Shard } from '../src/shard/shard.js';

if (parentPort === null) throw new Error('workers/shard.js must run as a worker thread');
const port = parentPort;

const shard = new Shard(
  workerData as ShardInit,
  (m: FromShard) => port.postMessage(m),
  (code) => process.exit(code), // in a worker this ends the thread, not the process
);
// Any error escaping a handler or timer is fatal for this shard, and only for it: close
// every socket properly first (an uncontrolled exit would abort the whole process).
process.on('uncaughtException', (err) => shard.fatal(err));
process.on('unhandledRejection', (err) => shard.fatal(err));
port.on('message', (m: ToShard) => {
  try {
    shard.onControl(m);
  } catch (err) {
    shard.fatal(err);
  }
});
shard.start();
