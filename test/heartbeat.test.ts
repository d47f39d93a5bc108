/**
 * Heartbeats: the server pings idle connections and closes the ones that stay silent for
 * --idle-timeout seconds, so dead peers do not linger; a live client (which answers pings,
 * as browsers do) stays connected however long it is otherwise idle.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startServer, type ShardcastServer } from '../src/index.js';

const IDLE_TIMEOUT_S = 8; // the smallest uWS allows

describe('heartbeats', () => {
  let server: ShardcastServer;
  before(async () => {
    server = await startServer({ port: 0, workers: 1, logLevel: 'silent', idleTimeout: IDLE_TIMEOUT_S });
  });
  after(async () => server?.close());

  it('closes a peer that never answers pings, keeps one that does', { timeout: 30_000 }, async () => {
    const url = `ws://127.0.0.1:${server.port}/ws`;
    const dead = new WebSocket(url, { autoPong: false }); // a peer whose network went away
    const live = new WebSocket(url); // answers pings automatically
    let pings = 0;
    dead.on('ping', () => pings++);
    const deadClosed = new Promise<number>((r) => dead.on('close', () => r(Date.now())));
    let liveClosed = false;
    live.on('close', () => (liveClosed = true));
    await Promise.all([dead, live].map((ws) => new Promise((r) => ws.once('open', r))));
    const opened = Date.now();

    const closedAt = await deadClosed;
    const after = (closedAt - opened) / 1000;
    assert.ok(pings >= 1, 'the server pinged the silent peer before giving up');
    assert.ok(after >= IDLE_TIMEOUT_S - 1 && after <= 2 * IDLE_TIMEOUT_S + 2, `closed after ${after.toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 2000)); // past the deadline the dead one hit
    assert.equal(liveClosed, false, 'a peer that answers pings stays connected');
    assert.equal(server.stats().connections, 1);
    live.close();
  });
});
