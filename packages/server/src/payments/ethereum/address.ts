import { HDKey } from '@scure/bip32';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/**
 * Per-renter deposit addresses, derived from the account-level extended PUBLIC key
 * (BIP-44 m/44'/60'/0') that the operator exports from their wallet: renter index i
 * receives at m/44'/60'/0'/0/i, the same address any BIP-44 wallet shows for that
 * account. The server can derive addresses but never spend: it refuses private keys.
 */
export class DepositAddresses {
  private readonly external: HDKey;

  constructor(accountXpub: string) {
    this.external = parseAccountXpub(accountXpub).deriveChild(0);
  }

  /** The EIP-55 checksummed address for deposit index `index` (0 ≤ index < 2^31). */
  at(index: number): string {
    if (!Number.isInteger(index) || index < 0 || index >= 0x8000_0000) {
      throw new RangeError(`Deposit address index must be an integer in [0, 2^31), got ${index}.`);
    }
    const publicKey = this.external.deriveChild(index).publicKey;
    if (!publicKey) throw new Error('Derived key has no public key.');
    return addressOfPublicKey(publicKey);
  }
}

/** Parses an xpub; throws on anything else, loudly on an extended private key. */
export function parseAccountXpub(text: string): HDKey {
  const trimmed = text.trim();
  // Check before decoding: an error message must never echo key material back into logs.
  if (/^[xtyzuv]prv/i.test(trimmed)) {
    throw new Error(
      'The Ethereum deposit key is an extended PRIVATE key (xprv). Configure the account-level ' +
        "extended PUBLIC key (xpub at m/44'/60'/0') instead: the server must never hold keys that can " +
        'spend deposits. Treat the key you pasted as exposed and move its funds.',
    );
  }
  let key: HDKey;
  try {
    key = HDKey.fromExtendedKey(trimmed);
  } catch (err) {
    throw new Error(`The Ethereum deposit key is not a valid extended public key (xpub): ${(err as Error).message}`);
  }
  if (key.privateKey) {
    throw new Error('The Ethereum deposit key holds a private key; configure the extended public key (xpub) instead.');
  }
  if (key.depth !== 3) {
    throw new Error(`The Ethereum deposit key must be the account-level xpub (m/44'/60'/0', depth 3); this one has depth ${key.depth}.`);
  }
  return key;
}

/** The Ethereum address of a secp256k1 public key (compressed or not), EIP-55 checksummed. */
export function addressOfPublicKey(publicKey: Uint8Array): string {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  const hash = keccak_256(uncompressed.subarray(1));
  return toChecksumAddress(`0x${bytesToHex(hash.subarray(12))}`);
}

/** EIP-55: upper-cases each hex letter whose nibble in keccak(lower-case address) is ≥ 8. */
export function toChecksumAddress(address: string): string {
  if (!isAddress(address)) throw new Error(`Not an Ethereum address: ${address}`);
  const lower = address.slice(2).toLowerCase();
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lower)));
  let out = '0x';
  for (let i = 0; i < lower.length; i++) {
    out += Number.parseInt(hash[i]!, 16) >= 8 ? lower[i]!.toUpperCase() : lower[i];
  }
  return out;
}

export function isAddress(text: string): boolean {
  return /^0x[0-9a-fA-F]{40}$/.test(text);
}
