import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { newCryptSalt, sha512Crypt } from './sha512-crypt.ts';

// From Ulrich Drepper's specification, "Unix crypt using SHA-256 and SHA-512", test vectors for SHA-512.
const specVectors: [salt: string, rounds: number | undefined, password: string, hash: string][] = [
  [
    'saltstring',
    undefined,
    'Hello world!',
    '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
  ],
  [
    'saltstringsaltstring',
    10000,
    'Hello world!',
    '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  ],
  [
    'toolongsaltstring',
    5000,
    'This is just a test',
    '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0',
  ],
  [
    'anotherlongsaltstring',
    1400,
    'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1',
  ],
  [
    'roundstoolow',
    10,
    'the minimum number is still observed',
    '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.',
  ],
];

test("sha512Crypt gives the specification's own test vectors", () => {
  for (const [salt, rounds, password, hash] of specVectors) assert.equal(sha512Crypt(password, salt, rounds), hash, salt);
});

test('sha512Crypt agrees with `openssl passwd -6` for generated passwords and salts', () => {
  const passwords = ['p', 'ABCDEFGHJKLMNPQRSTUV', 'a'.repeat(63), 'b'.repeat(64), 'c'.repeat(65), 'ünïcødé pässwörd', 'x'.repeat(200)];
  for (const password of passwords) {
    const salt = newCryptSalt();
    const openssl = execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${password}\n` })
      .toString()
      .trim();
    assert.equal(sha512Crypt(password, salt), openssl, `password of ${password.length} characters, salt ${salt}`);
  }
});

test("each hash gets its own random 16-character salt from crypt's alphabet", () => {
  const a = sha512Crypt('same password');
  const b = sha512Crypt('same password');
  assert.notEqual(a, b);
  for (const h of [a, b]) assert.match(h, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
});
