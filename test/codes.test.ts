/**
 * Stable codes: every error code and close code in src/protocol/codes.ts is documented in
 * docs/protocol.md, every error code has an HTTP status, and the tables are consistent.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { CloseCode, ErrorCode, RECONNECT_RANGE, TERMINAL_RANGE, httpStatus, shouldReconnect } from '../src/protocol/codes.js';

const DOC = fileURLToPath(new URL('../../docs/protocol.md', import.meta.url));

function readDoc(): string {
  assert.ok(existsSync(DOC), `${DOC} exists`);
  return readFileSync(DOC, 'utf8');
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('every ErrorCode value appears in docs/protocol.md as a literal code', () => {
  const doc = readDoc();
  const missing = Object.entries(ErrorCode).filter(([, code]) => {
    // `code`, "code" or 'code' (code spans, JSON examples), or a bare table cell | code |
    const literal = new RegExp(`[\`"']${escape(code)}[\`"']|\\|\\s*${escape(code)}\\s*\\|`);
    return !literal.test(doc);
  });
  assert.deepEqual(missing.map(([name, code]) => `${name} (${code})`), [], 'error codes missing from docs/protocol.md');
});

test('every CloseCode value appears in docs/protocol.md', () => {
  const doc = readDoc();
  const missing = Object.entries(CloseCode).filter(([, code]) => !new RegExp(`(^|[^0-9])${code}([^0-9]|$)`).test(doc));
  assert.deepEqual(missing.map(([name, code]) => `${name} (${code})`), [], 'close codes missing from docs/protocol.md');
});

test('every ErrorCode has an HTTP status, and httpStatus has no other keys', () => {
  const codes = Object.values(ErrorCode);
  for (const code of codes) {
    const status = httpStatus[code];
    assert.ok(Number.isInteger(status), `${code} has a status`);
    assert.ok(status >= 400 && status <= 599, `${code}: ${status} is an error status`);
    assert.ok(STATUS_CODES[status] !== undefined, `${code}: ${status} is a known HTTP status`);
  }
  assert.deepEqual(Object.keys(httpStatus).sort(), [...codes].sort());
});

test('statuses match the meaning of the codes', () => {
  assert.equal(httpStatus[ErrorCode.Unauthorized], 401);
  assert.equal(httpStatus[ErrorCode.NotFound], 404);
  assert.equal(httpStatus[ErrorCode.MethodNotAllowed], 405);
  assert.equal(httpStatus[ErrorCode.PayloadTooLarge], 413);
  assert.equal(httpStatus[ErrorCode.Internal], 500);
  for (const c of [ErrorCode.Overloaded, ErrorCode.TooManyConnections, ErrorCode.ShuttingDown]) assert.equal(httpStatus[c], 503, c);
  for (const c of [ErrorCode.TooManyConnectionsPerIp, ErrorCode.HandshakeRateLimited]) assert.equal(httpStatus[c], 429, c);
  for (const c of [ErrorCode.BadJson, ErrorCode.BadMessage, ErrorCode.UnknownType, ErrorCode.BadChannel]) assert.equal(httpStatus[c], 400, c);
});

test('codes are unique and well-formed', () => {
  const errors = Object.values(ErrorCode);
  assert.equal(new Set(errors).size, errors.length, 'error codes are unique');
  for (const e of errors) assert.match(e, /^[a-z]+(_[a-z]+)*$/, `${e} is snake_case`);
  const closes = Object.values(CloseCode);
  assert.equal(new Set(closes).size, closes.length, 'close codes are unique');
  for (const c of closes) {
    // RFC 6455 §7.4: codes the protocol defines (1000-1014, not the reserved 1004-1006,
    // 1015) or private-use codes 4000-4999
    const standard = c >= 1000 && c <= 1014 && ![1004, 1005, 1006].includes(c);
    assert.ok(standard || (c >= 4000 && c <= 4999), `close code ${c} may be sent in a close frame`);
  }
});

test('every close code is documented with its class, and shouldReconnect agrees', () => {
  const doc = readDoc();
  for (const [name, code] of Object.entries(CloseCode)) {
    const row = new RegExp(`^\\| \`${code}\` \\| (reconnect|terminal) \\|`, 'm').exec(doc);
    assert.ok(row, `${name} (${code}) has a row with its class in the close-code table`);
    assert.equal(shouldReconnect(code) ? 'reconnect' : 'terminal', row[1], `${name} (${code})`);
    // Shardcast's own codes say their class by range
    if (code >= 4000) {
      const [from, to] = shouldReconnect(code) ? RECONNECT_RANGE : TERMINAL_RANGE;
      assert.ok(code >= from && code <= to, `${name} (${code}) is in its class's range`);
    }
  }
  assert.equal(shouldReconnect(1006), true, 'a lost connection is retried');
  assert.equal(shouldReconnect(4321), true);
  assert.equal(shouldReconnect(4567), false);
  assert.equal(shouldReconnect(1002), false, 'an unknown standard code is not retried blindly');
});
