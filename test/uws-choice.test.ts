/**
 * Which uWebSockets.js build Shardcast loads for which Node and libc: the choice as a table over
 * (ABI, glibc, platform), the build this very process loaded, and the one sentence a user on an
 * unsupported combination gets from the CLI instead of a stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { chooseUws, glibcVersion, unsupportedMessage, versionAtLeast, type UwsHost } from '../src/transport/uws-choice.js';
import { uws, uwsPackage } from '../src/transport/uws.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const OLD = 'uWebSockets.js';
const NEW = '@btc-vision/uwebsockets.js';

describe('choosing the uWS build', () => {
  const linux = (abi: number, glibc: string | null): UwsHost => ({ abi, glibc, platform: 'linux', arch: 'x64' });
  const table: [string, UwsHost, string | null, string[]][] = [
    ['Node 20 on Debian 12 keeps the 20.30 build', linux(115, '2.36'), OLD, [OLD, NEW]],
    ['Node 20 on Debian 13 still prefers the 20.30 build it was tested on', linux(115, '2.41'), OLD, [OLD, NEW]],
    ['Node 20 on glibc 2.27 (Ubuntu 18.04) gets the 20.30 build', linux(115, '2.27'), OLD, [OLD, NEW]],
    ['Node 18 gets the 20.30 build', linux(108, '2.31'), OLD, [OLD]],
    ['Node 22 on Debian 13 gets the 20.57 build', linux(127, '2.41'), NEW, [NEW, OLD]],
    ['Node 24 on Ubuntu 24.04 (glibc 2.39) gets the 20.57 build', linux(137, '2.39'), NEW, [NEW, OLD]],
    ['Node 24 on glibc 2.38 exactly gets the 20.57 build', linux(137, '2.38'), NEW, [NEW, OLD]],
    ['Node 25 on Debian 13 gets the 20.57 build', linux(141, '2.41'), NEW, [NEW, OLD]],
    ['Node 22 on Debian 12 has no build that loads, but an override of uWebSockets.js is still tried', linux(127, '2.36'), null, [NEW, OLD]],
    ['Node 24 on musl has no build that loads', linux(137, null), null, [NEW, OLD]],
    ['Node 26 has no build at all', linux(147, '2.41'), null, [OLD]],
    ['Node 22 on macOS gets the 20.57 build (no glibc there)', { abi: 127, glibc: null, platform: 'darwin', arch: 'arm64' }, NEW, [NEW, OLD]],
    ['Node 22 on 32-bit ARM has no build that loads', { abi: 127, glibc: '2.41', platform: 'linux', arch: 'arm' }, null, [NEW, OLD]],
  ];
  for (const [name, host, expected, order] of table) {
    it(name, () => {
      const choice = chooseUws(host);
      assert.equal(choice.expected?.pkg ?? null, expected);
      assert.deepEqual(choice.order, order);
    });
  }

  it('compares glibc versions as numbers, not strings', () => {
    assert.equal(versionAtLeast('2.4', '2.38'), false);
    assert.equal(versionAtLeast('2.38', '2.38'), true);
    assert.equal(versionAtLeast('2.100', '2.38'), true);
    assert.equal(versionAtLeast('3.0', '2.38'), true);
  });

  it('says what this host is and what would work, in one sentence', () => {
    const text = unsupportedMessage(linux(127, '2.36'), 'v22.23.5');
    assert.match(text, /Node v22\.23\.5 with glibc 2\.36 \(linux-x64\)/);
    assert.match(text, /Node 22\/24 need glibc ≥ 2\.38 — Debian 13, Ubuntu 24\.04 — or the official uWS\.js from GitHub; Node 20 works everywhere with glibc ≥ 2\.27\.$/);
    assert.doesNotMatch(text, /\n/);
    assert.match(unsupportedMessage(linux(147, '2.41'), 'v26.0.0'), /ABI 147, which no bundled uWS build supports/);
    assert.match(unsupportedMessage(linux(137, null), 'v24.0.0'), /on Node v24\.0\.0 with no glibc \(musl\?\) \(linux-x64\)/);
    assert.match(unsupportedMessage({ abi: 147, glibc: null, platform: 'darwin', arch: 'arm64' }, 'v26.0.0'), /\(ABI 147, which no bundled uWS build supports\) \(darwin-arm64\)/);
  });
});

describe('the build this process runs on', () => {
  it('is native and the one the table expects for this Node and libc', () => {
    assert.ok(String(uws.App).includes('[native code]'));
    const host: UwsHost = { abi: Number(process.versions.modules), glibc: glibcVersion(), platform: process.platform, arch: process.arch };
    assert.equal(uwsPackage, chooseUws(host).expected?.pkg, `node ${process.version}, glibc ${host.glibc}`);
  });

  it('refuses the JavaScript shim with one line on stderr and exit 1, when no other build loads here', (t) => {
    // UWS_USE_FALLBACK forces the 20.30 package onto its shim; the 20.57 build must not load here either
    const host: UwsHost = { abi: Number(process.versions.modules), glibc: glibcVersion(), platform: process.platform, arch: process.arch };
    if (host.platform !== 'linux' || host.glibc === null || versionAtLeast(host.glibc, '2.38')) {
      t.skip('the 20.57 build may load on this host (glibc ≥ 2.38 or not Linux/glibc), so the shim cannot be forced');
      return;
    }
    const run = spawnSync(process.execPath, [CLI, 'serve', '--port', '0'], { env: { ...process.env, UWS_USE_FALLBACK: '1' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.stderr, 'shardcast: UWS_USE_FALLBACK asks uWebSockets.js for its slow JavaScript shim, which Shardcast refuses to run on; unset it.\n');
    assert.doesNotMatch(run.stdout, /listening/);
  });
});
