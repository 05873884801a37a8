// Bundles the agent into one plain JavaScript file, dist/agent.mjs, so a device runs it
// without the tsx loader (about 30 MiB of resident memory on its own) and without
// compiling TypeScript at every start. Run by scripts/setup.sh, scripts/pack-agent.sh and
// `npm run build:agent`; bin/p2pvps-agent runs the result.
//
//   node packages/agent/build.mjs [OUT_FILE]
//
// ssh2 stays outside the bundle: its native crypto binding is built on the device by
// `npm ci`, and the bundle loads it from node_modules, without the WebAssembly Poly1305
// and cpu-features where the binding makes them idle (ssh2WithoutIdleWasm below). Dockerode's BuildKit session
// (gRPC and protobufjs, which dockerode otherwise loads at require time) is loaded only if
// a build asks for BuildKit, which the agent never does. P2PVPS_BUILD_META=1 prints what
// the bundle holds, by module.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const outfile = process.argv[2] ?? here('./dist/agent.mjs');

/** Dockerode's session.js and buildkit.js, from the installed dockerode when called: never inside the bundle. */
const lazyBuildKit = {
  name: 'lazy-buildkit',
  setup(b) {
    b.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) =>
      /[\\/]dockerode[\\/]lib[\\/]/.test(args.importer) ? { path: args.path, namespace: 'lazy-buildkit' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-buildkit' }, (args) => ({
      contents:
        args.path === './session'
          ? `module.exports = function () { return require('dockerode/lib/session.js').apply(this, arguments); };`
          : `module.exports = new Proxy({}, { get: (_, key) => require('dockerode/lib/buildkit.js')[key] });`,
      loader: 'js',
      resolveDir: here('.'),
    }));
  },
};

/**
 * ssh2 as the agent loads it (docs/benchmarks.md, "Agent footprint"): ssh2 computes Poly1305 in WebAssembly only where its native
 * binding is missing, but instantiates that module at load whether or not (16 MiB of wasm
 * memory, about 4 MiB resident with its compiled code). Where the binding loads, nothing
 * ever calls it, so a stand-in takes its place before ssh2 loads; without the binding, the
 * real module loads as before.
 */
const ssh2WithoutIdleWasm = {
  name: 'ssh2-without-idle-wasm',
  setup(b) {
    b.onResolve({ filter: /^ssh2(\/.*)?$/ }, (args) =>
      args.namespace === 'ssh2-shim' || args.path !== 'ssh2'
        ? { path: args.path, external: true }
        : { path: 'ssh2', namespace: 'ssh2-shim' },
    );
    b.onLoad({ filter: /.*/, namespace: 'ssh2-shim' }, () => ({
      contents: `
        const wasm = require.resolve('ssh2/lib/protocol/crypto/poly1305.js');
        let binding = true;
        try { require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node'); } catch { binding = false; }
        if (binding && !require.cache[wasm]) {
          const unused = () => { throw new Error('ssh2: the WebAssembly Poly1305 was called although the native binding loaded'); };
          require.cache[wasm] = { id: wasm, filename: wasm, loaded: true, exports: async () => ({ _malloc: () => 0, cwrap: () => unused }) };
        }
        // cpu-features only orders ssh2's default ciphers; the agent names its own (tunnel-cipher.ts).
        // An optional dependency of ssh2: absent where it did not build, and then nothing to stand in for.
        let cpu;
        try { cpu = require.resolve('cpu-features'); } catch {}
        if (cpu && !require.cache[cpu]) require.cache[cpu] = { id: cpu, filename: cpu, loaded: true, exports: () => null };
        module.exports = require('ssh2');`,
      loader: 'js',
      resolveDir: here('.'),
    }));
  },
};

/**
 * Zod as the agent uses it: its classic API re-exports every locale's messages (`z.locales`,
 * about 40 languages), `z.fromJSONSchema` and `z.compile`, which the agent never calls but which a
 * namespace import keeps in the bundle, where V8 parses and keeps them. Here they are
 * empty (English messages are built into the schemas; the agent never turns JSON Schema
 * into zod), and calling what is left out says so.
 */
const leftOut = (name) => `throw new Error('zod ${name} is left out of the agent bundle (packages/agent/build.mjs)');`;
const zodWithoutUnused = {
  name: 'zod-without-unused',
  setup(b) {
    b.onResolve({ filter: /^(\.\.\/locales\/index|\.\/from-json-schema|\.\/compile)\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic[\\/]external|core[\\/]index)\.js$/.test(args.importer)
        ? { path: args.path, namespace: 'zod-unused' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-unused' }, (args) => ({
      contents: {
        '../locales/index.js': 'export {};',
        './from-json-schema.js': `export function fromJSONSchema() { ${leftOut('fromJSONSchema')} }`,
        // z.compile (a schema compiled ahead into one function); parsing never needs it.
        './compile.js': `export const INVALID = Symbol.for('zod.compile.invalid');
          export class ZodCompileAsyncError extends Error {}
          export class ZodCompileUnsupportedError extends Error {}
          export function compile() { ${leftOut('compile')} }
          export function withParser() { ${leftOut('withParser')} }
          export function compileFn() { ${leftOut('compileFn')} }`,
      }[args.path],
      loader: 'js',
    }));
  },
};

const result = await build({
  entryPoints: [here('./src/standalone.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['cpu-features', 'dockerode/lib/session.js', 'dockerode/lib/buildkit.js'],
  plugins: [lazyBuildKit, ssh2WithoutIdleWasm, zodWithoutUnused],
  // Bundled CommonJS (dockerode) calls require(); give it Node's, resolving from the bundle's place.
  banner: { js: "import { createRequire as __agentRequire } from 'node:module'; const require = __agentRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: Boolean(process.env.P2PVPS_BUILD_META),
  write: false,
});
// V8 keeps the bundle's source for as long as the agent runs, in one byte a character
// only if every character is Latin-1: one arrow or dash left in a comment (esbuild escapes
// them in strings, not in the comments it keeps) doubled it, 1.2 MiB more resident.
const [bundle] = result.outputFiles;
mkdirSync(dirname(outfile), { recursive: true });
writeFileSync(
  outfile,
  bundle.text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
);
if (result.metafile) console.log(await (await import('esbuild')).analyzeMetafile(result.metafile));
