import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasAesInstructions, tunnelCiphers, tunnelCiphersHere } from './tunnel-cipher.ts';

// Trimmed from real machines' /proc/cpuinfo.
const raspberryPi4 = `processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU part	: 0xd08

processor	: 1
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
Hardware	: BCM2835
Model		: Raspberry Pi 4 Model B Rev 1.4
`;
const raspberryPi5 = `processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer	: 0x41
CPU part	: 0xd0b
Model		: Raspberry Pi 5 Model B Rev 1.0
`;
const xeonWithAesNi = `processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Processor
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch
bugs		: spectre_v1 spectre_v2
`;
// A virtual CPU that hides AES-NI but shows the vector AES flag's name: `vaes` is not `aes`.
const x86WithoutAes = `processor	: 0
vendor_id	: AuthenticAMD
model name	: QEMU Virtual CPU version 2.5+
flags		: fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm rep_good nopl cpuid pni vaes cx16 x2apic hypervisor lahf_lm
`;

test('AES instructions are read from the x86 flags line and the ARM Features line', () => {
  assert.equal(hasAesInstructions(xeonWithAesNi), true);
  assert.equal(hasAesInstructions(raspberryPi5), true);
  assert.equal(hasAesInstructions(raspberryPi4), false);
  assert.equal(hasAesInstructions(x86WithoutAes), false, 'vaes alone is not the aes flag');
  assert.equal(hasAesInstructions(''), false);
  assert.equal(hasAesInstructions('model name\t: aes\n'), false, 'only the flags and Features lines count');
});

test('a Raspberry Pi 4 offers chacha20-poly1305 first, a Pi 5 and a Xeon AES-GCM', () => {
  assert.equal(tunnelCiphers('auto', hasAesInstructions(raspberryPi4))[0], 'chacha20-poly1305@openssh.com');
  assert.equal(tunnelCiphers('auto', hasAesInstructions(raspberryPi5))[0], 'aes128-gcm@openssh.com');
  assert.equal(tunnelCiphers('auto', hasAesInstructions(xeonWithAesNi))[0], 'aes128-gcm@openssh.com');
});

test('a forced cipher comes first whatever the CPU has, and the others stay as fallbacks', () => {
  for (const aes of [true, false]) {
    assert.equal(tunnelCiphers('chacha20-poly1305', aes)[0], 'chacha20-poly1305@openssh.com');
    assert.equal(tunnelCiphers('aes128-gcm', aes)[0], 'aes128-gcm@openssh.com');
    assert.equal(tunnelCiphers('aes256-gcm', aes)[0], 'aes256-gcm@openssh.com');
    const list = tunnelCiphers('auto', aes);
    assert.equal(new Set(list).size, list.length, 'no cipher twice');
    assert.deepEqual(
      [...list].sort(),
      ['aes128-ctr', 'aes128-gcm@openssh.com', 'aes256-ctr', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com'],
      'the same ciphers as the gateway accepts, in another order',
    );
  }
});

test('the cipher list for this machine reads the cpuinfo file; an unreadable one counts as no AES', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-cpuinfo-'));
  writeFileSync(join(dir, 'pi4'), raspberryPi4);
  writeFileSync(join(dir, 'pi5'), raspberryPi5);
  assert.equal(tunnelCiphersHere('auto', join(dir, 'pi4'))[0], 'chacha20-poly1305@openssh.com');
  assert.equal(tunnelCiphersHere('auto', join(dir, 'pi5'))[0], 'aes128-gcm@openssh.com');
  assert.equal(tunnelCiphersHere('auto', join(dir, 'missing'))[0], 'chacha20-poly1305@openssh.com');
  assert.equal(tunnelCiphersHere('aes256-gcm', join(dir, 'pi4'))[0], 'aes256-gcm@openssh.com');
});
