#!/usr/bin/env node
// Patches two constants and one call of the installed ssh2 (1.17), for the device tunnel's
// throughput and CPU. Run by this package's postinstall (so `npm ci` applies it, on the
// server and on a device alike) and by scripts/setup.sh (checkouts whose node_modules were
// copied, not installed). Idempotent; `--check` only reports, exiting 1 if not applied.
//
// Why not options: ssh2 fixes these as module constants (lib/Channel.js, lib/protocol/
// crypto.js) and reads them when its modules load, so nothing set at run time reaches them.
//
// 1. The largest channel data packet we accept, as we advertise it when a channel opens:
//    32 KiB → 64 KiB, one packet per 64 KiB socket read (what Node reads at once) instead
//    of two. Halves the packets per byte, and with them the writes, the encrypt and
//    decrypt calls and the Buffers per byte, at both ends of the tunnel.
// 2. What the decipher accepts, raised with it (a packet over the limit ends the
//    connection). Safe with peers that keep 32 KiB (older agents and gateways, stock
//    OpenSSH): SSH sends a peer at most the packet size that peer advertised, so a peer
//    that advertises 32 KiB still gets 32 KiB packets, and one that never sends more than
//    32 KiB is unaffected by our accepting more.
// 3. Each packet's random padding (4–20 bytes) comes from a pool filled from the same
//    CSPRNG (crypto.randomFillSync) 16 KiB at a time, each byte used once, instead of a
//    randomFillSync call per packet: that call was 5–9 % of both ends' CPU in the tunnel's
//    profiles (docs/benchmarks.md), most of it per-call overhead.
//
// Every edit is an exact text match: a different ssh2 fails loudly here rather than
// running half-patched. packages/protocol/src/ssh2-patch.test.ts checks the result.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const marker = 'p2pvps ssh2-patch';
export const patchedPacketSize = 64 * 1024;

const poolCode = `
// ${marker}: padding from a pool of CSPRNG bytes, each used once (packages/protocol/ssh2-patch.mjs).
const PADDING_POOL = Buffer.allocUnsafe(16 * 1024);
let paddingPos = PADDING_POOL.length;
function fillPadding(packet, offset, len) {
  if (paddingPos + len > PADDING_POOL.length) {
    randomFillSync(PADDING_POOL);
    paddingPos = 0;
  }
  for (let i = 0; i < len; ++i)
    packet[offset + i] = PADDING_POOL[paddingPos++];
}
`;

/** file (under ssh2/lib), the text as shipped, what it becomes, how often the text occurs. */
export const edits = [
  {
    file: 'Channel.js',
    from: 'const PACKET_SIZE = 32 * 1024;',
    to: `const PACKET_SIZE = ${patchedPacketSize}; // ${marker}: one packet per 64 KiB socket read`,
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: 'const MAX_PACKET_SIZE = 35000;',
    to: `const MAX_PACKET_SIZE = ${patchedPacketSize} + 1024; // ${marker}: accepts what Channel.js advertises\n${poolCode}`,
    count: 1,
  },
  {
    file: 'protocol/crypto.js',
    from: '    randomFillSync(packet, 5 + payloadLen, padLen);',
    to: `    fillPadding(packet, 5 + payloadLen, padLen); // ${marker}`,
    count: 7,
  },
];

function ssh2Lib() {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('ssh2/package.json')), 'lib');
}

/** Applies the edits (or with `check`, only looks); returns what was not yet applied. */
export function patchSsh2({ check = false, lib = ssh2Lib() } = {}) {
  const pending = [];
  const files = new Map();
  for (const edit of edits) {
    const path = join(lib, edit.file);
    const text = files.get(path) ?? readFileSync(path, 'utf8');
    const found = text.split(edit.from).length - 1;
    const done = text.split(edit.to).length - 1;
    if (found === 0 && done === edit.count) continue;
    if (found !== edit.count || done !== 0)
      throw new Error(
        `ssh2-patch: ${path} is not the ssh2 this patch was written for (expected ${edit.count} × ${JSON.stringify(edit.from)}, found ${found}; ${done} already patched)`,
      );
    pending.push(`${edit.file}: ${edit.from.trim()}`);
    files.set(path, text.split(edit.from).join(edit.to));
  }
  if (!check) for (const [path, text] of files) writeFileSync(path, text);
  return pending;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const check = process.argv.includes('--check');
  try {
    const pending = patchSsh2({ check });
    if (check && pending.length) {
      console.error(`ssh2 is not patched for the tunnel (run node packages/protocol/ssh2-patch.mjs):\n  ${pending.join('\n  ')}`);
      process.exit(1);
    }
    if (!check && pending.length) console.error(`patched ssh2 for the tunnel: ${pending.length} edit(s)`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
