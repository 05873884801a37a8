import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { HDKey } from '@scure/bip32';
import { DepositAddresses, toChecksumAddress } from './address.ts';

// BIP-39 seed of the well-known test mnemonic (no passphrase), computed as BIP-39 does.
function accountKey(): HDKey {
  const mnemonic = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';
  const seed = pbkdf2Sync(mnemonic.normalize('NFKD'), 'mnemonic', 2048, 64, 'sha512');
  return HDKey.fromMasterSeed(seed).derive("m/44'/60'/0'");
}

test('derives the well-known first address of the "abandon … about" wallet from its xpub', () => {
  const addresses = new DepositAddresses(accountKey().publicExtendedKey);
  assert.equal(addresses.at(0), '0x9858EfFD232B4033E47d90003D41EC34EcaEda94');
  assert.equal(addresses.at(1), '0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0');
  assert.notEqual(addresses.at(2), addresses.at(1));
});

test('refuses an extended private key, without echoing it', () => {
  const xprv = accountKey().privateExtendedKey;
  assert.throws(
    () => new DepositAddresses(xprv),
    (err: Error) => /PRIVATE key/.test(err.message) && !err.message.includes(xprv.slice(4, 20)),
  );
});

test('refuses an xpub at the wrong depth and garbage', () => {
  const root = HDKey.fromMasterSeed(new Uint8Array(32).fill(7));
  assert.throws(() => new DepositAddresses(root.publicExtendedKey), /depth 0/);
  assert.throws(() => new DepositAddresses('xpub-not-a-key'), /not a valid extended public key/);
});

test('refuses out-of-range indexes', () => {
  const addresses = new DepositAddresses(accountKey().publicExtendedKey);
  assert.throws(() => addresses.at(-1), RangeError);
  assert.throws(() => addresses.at(2 ** 31), RangeError);
  assert.throws(() => addresses.at(1.5), RangeError);
});

test('EIP-55 checksums match the EIP test vectors', () => {
  for (const expected of [
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
  ]) {
    assert.equal(toChecksumAddress(expected.toLowerCase()), expected);
  }
});
