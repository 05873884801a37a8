#!/usr/bin/env node
// ssh2 falls back to pure-JS crypto without its native binding, silently: chacha20 then
// costs ~2.5x the CPU per byte and the tunnel loses to stock OpenSSH. Fail loudly instead.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let available = false;
let why = '';
try {
  available = require('ssh2/lib/protocol/crypto.js').bindingAvailable === true;
} catch (err) {
  why = ` (${err.message})`;
}
if (!available) {
  console.error(
    `error: ssh2's native crypto binding (node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node) is not available${why}.\n` +
      'Tunnels would run on pure-JS crypto, several times slower. Install a C++ toolchain (apt-get install -y build-essential python3)\n' +
      'and rebuild it: npm rebuild ssh2 --foreground-scripts',
  );
  process.exit(1);
}
