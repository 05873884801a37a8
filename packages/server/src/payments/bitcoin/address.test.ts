import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HDKey } from '@scure/bip32';
import { base58 } from '@scure/base';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { AccountKeyError, DepositAddresses, parseAccountKey, type AccountKeyProblem } from './address.ts';

// The BIP84 test vectors: https://github.com/bitcoin/bips/blob/master/bip-0084.mediawiki#test-vectors
const vectorMnemonic = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';
const vectorAccountZpub = 'zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs';

const zpubVersions = { public: 0x04b24746, private: 0x04b2430c };
const xpubVersions = { public: 0x0488b21e, private: 0x0488ade4 };
const vpubVersions = { public: 0x045f1cf6, private: 0x045f18bc };
const tpubVersions = { public: 0x043587cf, private: 0x04358394 };

/** The wallet side, which only tests may play: BIP39 seed (PBKDF2, no passphrase) and BIP32 derivation. */
function walletAccount(path: string, versions: { public: number; private: number }): HDKey {
  const seed = pbkdf2(sha512, vectorMnemonic.normalize('NFKD'), 'mnemonic', { c: 2048, dkLen: 64 });
  return HDKey.fromMasterSeed(seed, versions).derive(path);
}

function problemOf(fn: () => unknown): AccountKeyProblem {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AccountKeyError, `expected AccountKeyError, got ${String(err)}`);
    return err.problem;
  }
  assert.fail('expected the key to be refused');
}

test('the BIP84 vectors: first and second receive address and first change address of account 0', () => {
  // The wallet-side derivation reproduces the published account zpub, so the mnemonic really is the vector's.
  assert.equal(walletAccount("m/84'/0'/0'", zpubVersions).publicExtendedKey, vectorAccountZpub);

  const addresses = new DepositAddresses(vectorAccountZpub, 'mainnet');
  assert.equal(addresses.receiveAddress(0), 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu');
  assert.equal(addresses.receiveAddress(1), 'bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g');
  assert.equal(addresses.changeAddress(0), 'bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el');
});

test('the same account exported as an xpub derives the same addresses', () => {
  const xpub = walletAccount("m/84'/0'/0'", xpubVersions).publicExtendedKey;
  assert.match(xpub, /^xpub/);
  const addresses = new DepositAddresses(xpub, 'mainnet');
  assert.equal(addresses.receiveAddress(0), 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu');
  assert.equal(addresses.receiveAddress(1), 'bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g');
});

test('test networks take a vpub or tpub and give tb1/bcrt1 addresses', () => {
  const vpub = walletAccount("m/84'/1'/0'", vpubVersions).publicExtendedKey;
  const tpub = walletAccount("m/84'/1'/0'", tpubVersions).publicExtendedKey;
  assert.match(vpub, /^vpub/);
  assert.match(tpub, /^tpub/);
  const first = new DepositAddresses(vpub, 'testnet').receiveAddress(0);
  assert.match(first, /^tb1q[02-9ac-hj-np-z]{38}$/);
  assert.equal(new DepositAddresses(tpub, 'signet').receiveAddress(0), first);
  assert.match(new DepositAddresses(tpub, 'regtest').receiveAddress(0), /^bcrt1q/);
});

test('leading and trailing whitespace around a pasted key is ignored', () => {
  assert.equal(new DepositAddresses(`  ${vectorAccountZpub}\n`, 'mainnet').receiveAddress(0), 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu');
});

test('private keys are refused loudly, and the message never repeats the key', () => {
  for (const [versions, path, network, name] of [
    [zpubVersions, "m/84'/0'/0'", 'mainnet', 'zprv'],
    [xpubVersions, "m/84'/0'/0'", 'mainnet', 'xprv'],
    [vpubVersions, "m/84'/1'/0'", 'testnet', 'vprv'],
    [tpubVersions, "m/84'/1'/0'", 'testnet', 'tprv'],
  ] as const) {
    const prv = walletAccount(path, versions).privateExtendedKey;
    assert.ok(prv.startsWith(name));
    assert.throws(
      () => new DepositAddresses(prv, network),
      (err: unknown) => {
        assert.ok(err instanceof AccountKeyError);
        assert.equal(err.problem, 'private_key');
        assert.match(err.message, /^REFUSED: .*PRIVATE key/);
        assert.ok(err.message.includes(`(${name})`));
        assert.ok(!err.message.includes(prv) && !err.message.includes(prv.slice(4, 30)), 'the key must not be echoed');
        return true;
      },
    );
    // Refused on the wrong network too: being private is the worse problem.
    assert.equal(
      problemOf(() => parseAccountKey(prv, network === 'mainnet' ? 'testnet' : 'mainnet')),
      'private_key',
    );
  }
});

test('a key of the other network is refused', () => {
  assert.equal(
    problemOf(() => parseAccountKey(vectorAccountZpub, 'testnet')),
    'wrong_network',
  );
  const vpub = walletAccount("m/84'/1'/0'", vpubVersions).publicExtendedKey;
  assert.equal(
    problemOf(() => parseAccountKey(vpub, 'mainnet')),
    'wrong_network',
  );
  assert.throws(() => parseAccountKey(vpub, 'mainnet'), /testnet key \(vpub\) but the rail is configured for mainnet/);
});

test('a mistyped key fails its checksum', () => {
  // Swap two characters in the middle: still valid base58, wrong checksum.
  const i = 50;
  const typo = vectorAccountZpub.slice(0, i) + vectorAccountZpub[i + 1] + vectorAccountZpub[i] + vectorAccountZpub.slice(i + 2);
  assert.notEqual(typo, vectorAccountZpub);
  assert.equal(
    problemOf(() => parseAccountKey(typo, 'mainnet')),
    'bad_checksum',
  );
  assert.equal(
    problemOf(() => parseAccountKey(vectorAccountZpub.slice(0, -1), 'mainnet')),
    'bad_length',
  );
  assert.equal(
    problemOf(() => parseAccountKey('zpub0OIl', 'mainnet')),
    'not_base58',
  );
  assert.equal(
    problemOf(() => parseAccountKey('', 'mainnet')),
    'bad_length',
  );
});

test('keys that are not at account depth are refused', () => {
  const master = walletAccount('m', zpubVersions).publicExtendedKey;
  const purpose = walletAccount("m/84'", zpubVersions).publicExtendedKey;
  const receiveChain = walletAccount("m/84'/0'/0'/0", zpubVersions).publicExtendedKey;
  for (const key of [master, purpose, receiveChain])
    assert.equal(
      problemOf(() => parseAccountKey(key, 'mainnet')),
      'not_account_level',
    );
  assert.throws(() => parseAccountKey(master, 'mainnet'), /not an account-level key \(depth 0/);
});

test('wrapped-SegWit and multisig keys are refused with what to export instead', () => {
  const ypub = walletAccount("m/49'/0'/0'", { public: 0x049d7cb2, private: 0x049d7878 }).publicExtendedKey;
  assert.match(ypub, /^ypub/);
  assert.equal(
    problemOf(() => parseAccountKey(ypub, 'mainnet')),
    'wrong_script_type',
  );
  assert.throws(() => parseAccountKey(ypub, 'mainnet'), /BIP49.*export the BIP84 account key \(a zpub or xpub of m\/84'\/0'\/0'\)/);
});

test('unknown version bytes and an invalid curve point are refused', () => {
  const payload = base58.decode(vectorAccountZpub).slice(0, 78);
  const reencode = (bytes: Uint8Array) => {
    const check = sha256d(bytes).slice(0, 4);
    return base58.encode(Uint8Array.from([...bytes, ...check]));
  };
  const unknown = payload.slice();
  unknown.set([0x01, 0x02, 0x03, 0x04], 0);
  assert.equal(
    problemOf(() => parseAccountKey(reencode(unknown), 'mainnet')),
    'unknown_version',
  );

  const offCurve = payload.slice();
  offCurve.set([0x02, ...new Uint8Array(32).fill(0xff)], 45); // x >= p: not a point
  assert.equal(
    problemOf(() => parseAccountKey(reencode(offCurve), 'mainnet')),
    'invalid_key',
  );
});

test('deposit indexes are non-hardened child numbers', () => {
  const addresses = new DepositAddresses(vectorAccountZpub, 'mainnet');
  assert.throws(() => addresses.receiveAddress(-1), RangeError);
  assert.throws(() => addresses.receiveAddress(1.5), RangeError);
  assert.throws(() => addresses.receiveAddress(2 ** 31), RangeError);
  assert.match(addresses.receiveAddress(2 ** 31 - 1), /^bc1q/);
});

function sha256d(bytes: Uint8Array): Uint8Array {
  return sha256(sha256(bytes));
}
