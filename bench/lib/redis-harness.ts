/**
 * runRedisHarness — a harness entry point (see harness.ts) around one private redis-server that
 * every measured run shares: start it, measure, stop it whatever happened, print the table,
 * keep the raw rows.
 */
import { RedisServer } from '../../test/helpers/redis.js';
import { keepRawRows } from './figures.js';
import { runHarness } from './harness.js';

export function runRedisHarness<R>(name: string, json: string | null, measure: (redis: RedisServer) => Promise<R[]>, render: (rows: R[]) => string): void {
  runHarness(async () => {
    const redis = await RedisServer.create();
    let rows: R[];
    try {
      rows = await measure(redis);
    } finally {
      await redis.stop();
    }
    console.log(render(rows));
    keepRawRows(name, json, rows);
    return 0;
  });
}
