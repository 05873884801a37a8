/**
 * Test support: a real local EVM (ganache) in a child process on loopback, with a chain
 * database in a temp dir so stop() + restart() brings back the same chain on the same
 * port, and a minimal ERC-20 compiled from Solidity with solc-js at test time.
 *
 * Transactions are sent from ganache's unlocked deterministic accounts with
 * eth_sendTransaction, so no signing code is needed here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { JsonRpcClient, hex } from './json-rpc.ts';

const require = createRequire(import.meta.url);

export const TOKEN_SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// The smallest ERC-20 the rail needs: balances, transfer, the Transfer event, 6 decimals.
contract TestDollar {
    string public constant name = "Test Dollar";
    string public constant symbol = "TUSD";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor(uint256 supply) {
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value, "insufficient balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
`;

export interface EvmNode {
  readonly url: string;
  readonly port: number;
  readonly rpc: JsonRpcClient;
  /** ganache's deterministic, unlocked, funded accounts (lower-case). */
  readonly accounts: string[];
  /** Stops the node gracefully (the chain database is kept). */
  stop(): Promise<void>;
  /** Starts the node again on the same port and chain database. */
  restart(): Promise<void>;
  /** Stops the node and deletes its chain database. Safe to call more than once. */
  close(): Promise<void>;
  mine(blocks?: number): Promise<void>;
  blockNumber(): Promise<bigint>;
  sendEth(from: string, to: string, wei: bigint): Promise<TxResult>;
  deployToken(from: string, supply: bigint): Promise<string>;
  transferToken(token: string, from: string, to: string, amount: bigint): Promise<TxResult>;
}

export interface TxResult {
  hash: string;
  blockNumber: bigint;
}

export interface EvmNodeOptions {
  /** How long to wait for the node to answer after spawning it; default 30 s. */
  startTimeoutMs?: number;
}

export async function startEvmNode(options: EvmNodeOptions = {}): Promise<EvmNode> {
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const dbPath = await mkdtemp(join(tmpdir(), 'p2pvps-evm-'));
  const cli = join(dirname(require.resolve('ganache/package.json')), 'dist/node/cli.js');
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const rpc = new JsonRpcClient(url, { timeoutMs: 10_000 });
  let child: ChildProcess | undefined;
  let closed = false;

  // If the test process dies without close(), take the node and its database with it.
  const killOnExit = () => {
    child?.kill('SIGKILL');
    rmSync(dbPath, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  async function launch(): Promise<void> {
    const proc = spawn(
      process.execPath,
      [
        cli,
        '--server.host=127.0.0.1',
        `--server.port=${port}`,
        '--wallet.deterministic',
        '--chain.chainId=1337',
        '--miner.blockTime=0',
        `--database.dbPath=${dbPath}`,
        '--logging.quiet',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code, signal) => reject(new Error(`ganache exited during start (code ${code}, signal ${signal}):\n${output}`))),
    );
    exited.catch(() => {}); // Observed below while starting; later exits are expected (stop()).
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      try {
        await Promise.race([rpc.chainId(), exited]);
        return;
      } catch (err) {
        if (proc.exitCode !== null || proc.signalCode !== null) throw err;
        if (Date.now() > deadline) {
          await stopChild();
          throw new Error(`ganache did not answer on ${url} within ${startTimeoutMs} ms:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async function stopChild(): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM'); // Graceful: ganache flushes its chain database.
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }

  try {
    await launch();
  } catch (err) {
    await stopChild();
    process.removeListener('exit', killOnExit);
    await rm(dbPath, { recursive: true, force: true });
    throw err;
  }
  const accounts = (await rpc.call('eth_accounts')) as string[];

  async function send(tx: Record<string, string>): Promise<TxResult> {
    const hash = (await rpc.call('eth_sendTransaction', [tx])) as string;
    const receipt = await waitForReceipt(rpc, hash);
    if (receipt.status !== '0x1') throw new Error(`Transaction ${hash} reverted.`);
    return { hash, blockNumber: BigInt(receipt.blockNumber) };
  }

  return {
    url,
    port,
    rpc,
    accounts,
    stop: stopChild,
    async restart() {
      if (closed) throw new Error('The EVM node is closed.');
      await stopChild();
      await launch();
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopChild();
      process.removeListener('exit', killOnExit);
      await rm(dbPath, { recursive: true, force: true });
    },
    async mine(blocks = 1) {
      for (let i = 0; i < blocks; i++) await rpc.call('evm_mine');
    },
    blockNumber: () => rpc.blockNumber(),
    sendEth: (from, to, wei) => send({ from, to, value: hex(wei) }),
    async deployToken(from, supply) {
      const { bytecode } = compileToken();
      const data = `0x${bytecode}${word(supply)}`;
      const hash = (await rpc.call('eth_sendTransaction', [{ from, data, gas: hex(3_000_000n) }])) as string;
      const receipt = await waitForReceipt(rpc, hash);
      if (receipt.status !== '0x1' || !receipt.contractAddress) throw new Error('Token deployment failed.');
      return receipt.contractAddress;
    },
    transferToken: (token, from, to, amount) =>
      send({ from, to: token, data: `0x${selector('transfer(address,uint256)')}${word(BigInt(to))}${word(amount)}`, gas: hex(200_000n) }),
  };
}

interface Receipt {
  status: string;
  blockNumber: string;
  contractAddress: string | null;
}

async function waitForReceipt(rpc: JsonRpcClient, hash: string): Promise<Receipt> {
  for (let i = 0; i < 200; i++) {
    const receipt = (await rpc.call('eth_getTransactionReceipt', [hash])) as Receipt | null;
    if (receipt) return receipt;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`No receipt for ${hash}.`);
}

let compiled: { bytecode: string } | undefined;

/** Compiles the test token once per process (solc-js, offline, from its bundled soljson). */
export function compileToken(): { bytecode: string } {
  if (compiled) return compiled;
  const solc = require('solc') as { compile(input: string): string };
  const input = {
    language: 'Solidity',
    sources: { 'TestDollar.sol': { content: TOKEN_SOURCE } },
    settings: {
      // ganache 7 implements up to Shanghai at most; paris bytecode runs on every hardfork it offers.
      evmVersion: 'paris',
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<string, Record<string, { evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join('\n')}`);
  const object = output.contracts?.['TestDollar.sol']?.['TestDollar']?.evm.bytecode.object;
  if (!object) throw new Error('solc produced no bytecode for TestDollar.');
  compiled = { bytecode: object };
  return compiled;
}

function selector(signature: string): string {
  return bytesToHex(keccak_256(new TextEncoder().encode(signature)).subarray(0, 4));
}

function word(n: bigint): string {
  return n.toString(16).padStart(64, '0');
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
