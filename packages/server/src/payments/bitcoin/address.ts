/**
 * Deposit addresses for the Bitcoin rail: BIP84 native SegWit (P2WPKH, bech32 `bc1q…`/`tb1q…`)
 * receive addresses derived from the operator's account-level extended PUBLIC key. Deposit
 * index i is the address at …/0/i, so the operator's own wallet (which holds the private
 * keys) sees every deposit as an ordinary receive and can spend it; the server can derive
 * addresses but never sign, so a breach of the server cannot move the money.
 */
import { HDKey, HARDENED_OFFSET } from '@scure/bip32';
import { base58, bech32 } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { ripemd160 } from '@noble/hashes/legacy.js';

export type BitcoinNetwork = 'mainnet' | 'testnet' | 'signet' | 'regtest';

export const bitcoinNetworks: readonly BitcoinNetwork[] = ['mainnet', 'testnet', 'signet', 'regtest'];

/** bech32 human-readable part of a segwit address, per BIP173 (signet shares testnet's). */
const addressPrefix: Record<BitcoinNetwork, string> = { mainnet: 'bc', testnet: 'tb', signet: 'tb', regtest: 'bcrt' };

type KeyChain = 'mainnet' | 'test';
type ScriptKind = 'bip32' | 'bip84' | 'bip49' | 'multisig-p2sh-p2wsh' | 'multisig-p2wsh';

interface KnownVersion {
  name: string;
  chain: KeyChain;
  kind: ScriptKind;
  isPrivate: boolean;
  /** The version of the other half of the pair (private for a public one and the reverse). */
  pair: number;
}

/**
 * Extended-key version bytes from BIP32 and SLIP-0132. We accept the public ones of plain BIP32
 * (xpub/tpub, which wallets such as Sparrow and Bitcoin Core also export for BIP84 accounts) and
 * of BIP84 (zpub/vpub). The rest are listed only so a wrong key gets an error that names it.
 */
const versions = new Map<number, KnownVersion>();
function pair(chain: KeyChain, kind: ScriptKind, pubName: string, pub: number, prvName: string, prv: number): void {
  versions.set(pub, { name: pubName, chain, kind, isPrivate: false, pair: prv });
  versions.set(prv, { name: prvName, chain, kind, isPrivate: true, pair: pub });
}
pair('mainnet', 'bip32', 'xpub', 0x0488b21e, 'xprv', 0x0488ade4);
pair('mainnet', 'bip49', 'ypub', 0x049d7cb2, 'yprv', 0x049d7878);
pair('mainnet', 'bip84', 'zpub', 0x04b24746, 'zprv', 0x04b2430c);
pair('mainnet', 'multisig-p2sh-p2wsh', 'Ypub', 0x0295b43f, 'Yprv', 0x0295b005);
pair('mainnet', 'multisig-p2wsh', 'Zpub', 0x02aa7ed3, 'Zprv', 0x02aa7a99);
pair('test', 'bip32', 'tpub', 0x043587cf, 'tprv', 0x04358394);
pair('test', 'bip49', 'upub', 0x044a5262, 'uprv', 0x044a4e28);
pair('test', 'bip84', 'vpub', 0x045f1cf6, 'vprv', 0x045f18bc);
pair('test', 'multisig-p2sh-p2wsh', 'Upub', 0x024289ef, 'Uprv', 0x024285b5);
pair('test', 'multisig-p2wsh', 'Vpub', 0x02575483, 'Vprv', 0x02575048);

export type AccountKeyProblem =
  | 'not_base58'
  | 'bad_checksum'
  | 'bad_length'
  | 'unknown_version'
  | 'private_key'
  | 'wrong_network'
  | 'wrong_script_type'
  | 'not_account_level'
  | 'invalid_key';

/** The configured account key cannot be used. The message never contains the key itself. */
export class AccountKeyError extends Error {
  constructor(
    readonly problem: AccountKeyProblem,
    message: string,
  ) {
    super(message);
    this.name = 'AccountKeyError';
  }
}

const expectedKeys = (network: BitcoinNetwork): string => (network === 'mainnet' ? 'a zpub or xpub' : 'a vpub or tpub');
const accountPath = (network: BitcoinNetwork): string => (network === 'mainnet' ? "m/84'/0'/0'" : "m/84'/1'/0'");

/**
 * Parses and checks an account-level extended public key (zpub/xpub on mainnet, vpub/tpub on
 * the test networks). Throws AccountKeyError on anything else, and refuses private keys outright.
 */
export function parseAccountKey(accountKey: string, network: BitcoinNetwork): HDKey {
  if (!bitcoinNetworks.includes(network)) throw new RangeError(`unknown Bitcoin network ${String(network)}`);
  const text = accountKey.trim();
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(text);
  } catch {
    throw new AccountKeyError('not_base58', `The Bitcoin account key is not an extended key: expected ${expectedKeys(network)}.`);
  }
  if (bytes.length !== 82) {
    throw new AccountKeyError(
      'bad_length',
      `The Bitcoin account key has the wrong length (${bytes.length} bytes, an extended key has 82): expected ${expectedKeys(network)}; was it copied whole?`,
    );
  }
  const payload = bytes.subarray(0, 78);
  const checksum = sha256(sha256(payload)).subarray(0, 4);
  if (!checksum.every((b, i) => b === bytes[78 + i])) {
    throw new AccountKeyError(
      'bad_checksum',
      'The Bitcoin account key has a bad checksum: it was mistyped or truncated; copy it again from the wallet.',
    );
  }

  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const version = view.getUint32(0, false);
  const depth = payload[4]!;
  const childIndex = view.getUint32(9, false);
  const known = versions.get(version);
  // Key data starting with 0x00 is a private key, whatever the version bytes claim.
  const holdsPrivateKey = payload[45] === 0x00;
  if (known?.isPrivate || holdsPrivateKey) {
    throw new AccountKeyError(
      'private_key',
      `REFUSED: the Bitcoin account key is a PRIVATE key${known ? ` (${known.name})` : ''}. The server must never hold a key that can spend ` +
        `deposits. Configure the account's extended public key instead (${expectedKeys(network)} of ${accountPath(network)}), ` +
        'remove the private key from the configuration, and treat it as exposed: move its funds to a fresh wallet.',
    );
  }
  if (!known) {
    throw new AccountKeyError('unknown_version', `The Bitcoin account key has unknown version bytes: expected ${expectedKeys(network)}.`);
  }
  const keyChain: KeyChain = network === 'mainnet' ? 'mainnet' : 'test';
  if (known.chain !== keyChain) {
    throw new AccountKeyError(
      'wrong_network',
      `The Bitcoin account key is a ${known.chain === 'mainnet' ? 'mainnet' : 'testnet'} key (${known.name}) but the rail is configured for ${network}: expected ${expectedKeys(network)}.`,
    );
  }
  if (known.kind !== 'bip32' && known.kind !== 'bip84') {
    throw new AccountKeyError(
      'wrong_script_type',
      `The Bitcoin account key is a ${known.name}, which is for ${known.kind === 'bip49' ? 'wrapped SegWit (BIP49)' : 'multisig'} wallets; ` +
        `deposits go to single-key native SegWit addresses, so export the BIP84 account key (${expectedKeys(network)} of ${accountPath(network)}).`,
    );
  }
  if (depth !== 3 || childIndex < HARDENED_OFFSET) {
    throw new AccountKeyError(
      'not_account_level',
      `The Bitcoin account key is not an account-level key (depth ${depth}, expected 3 with a hardened index, as for ${accountPath(network)}): ` +
        "export the account's extended public key, not the wallet's master key or an address-level key.",
    );
  }
  try {
    return HDKey.fromExtendedKey(text, { public: version, private: known.pair });
  } catch {
    throw new AccountKeyError('invalid_key', 'The Bitcoin account key does not hold a valid public key: copy it again from the wallet.');
  }
}

/** The P2WPKH (witness v0 key hash) address of a compressed public key. */
export function p2wpkhAddress(publicKey: Uint8Array, network: BitcoinNetwork): string {
  const keyHash = ripemd160(sha256(publicKey));
  return bech32.encode(addressPrefix[network], [0, ...bech32.toWords(keyHash)]);
}

const maxChildIndex = HARDENED_OFFSET - 1;

/** Derives the BIP84 deposit addresses of one account from its extended public key. */
export class DepositAddresses {
  private readonly receiveChain: HDKey;
  private readonly changeChain: HDKey;

  /** Throws AccountKeyError when the key cannot be used (see parseAccountKey). */
  constructor(
    accountKey: string,
    readonly network: BitcoinNetwork,
  ) {
    const account = parseAccountKey(accountKey, network);
    this.receiveChain = account.deriveChild(0);
    this.changeChain = account.deriveChild(1);
  }

  /** The address for deposit index i: …/0/i. Each renter gets their own index. */
  receiveAddress(index: number): string {
    return this.addressAt(this.receiveChain, index);
  }

  /** …/1/i. Deposits never use it; it is here so the derivation can be checked against the BIP84 vectors. */
  changeAddress(index: number): string {
    return this.addressAt(this.changeChain, index);
  }

  private addressAt(chain: HDKey, index: number): string {
    if (!Number.isSafeInteger(index) || index < 0 || index > maxChildIndex) {
      throw new RangeError(`deposit index must be an integer from 0 to ${maxChildIndex}, not ${index}`);
    }
    const child = chain.deriveChild(index);
    return p2wpkhAddress(child.publicKey!, this.network);
  }
}
