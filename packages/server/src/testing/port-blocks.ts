import { randomInt } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Blocks of loopback ports for tests, in 22000–30999 (below Linux's ephemeral range).
 * A block is taken only if no socket in this network namespace is bound to any of its
 * ports, and it is reserved for this process with lock files in a directory every test
 * process on the machine shares, so two test runs started side by side (two engineers,
 * or a test beside the CI check) cannot pick the same ports. A reservation lasts until
 * the process exits; one left by a process that died is taken over.
 */

// P2PVPS_PORT_RANGE (first-last) moves the range, for this module's own test.
const [first, last] = (process.env.P2PVPS_PORT_RANGE ?? '22000-30999').split('-').map(Number) as [number, number];
const span = last - first + 1;
/** Reservations are kept per page of this many ports. */
const page = 10;
const lockDir = process.env.P2PVPS_PORT_LOCK_DIR ?? '/tmp/p2pvps-port-blocks';
const mine: string[] = [];

/** A free block of `size` ports, reserved for this process; its first port. */
export function portBlock(size: number): number {
  if (!Number.isInteger(size) || size < 1 || size > span) throw new Error(`a port block of ${size} ports cannot be had`);
  mkdirSync(lockDir, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = first + randomInt(0, Math.floor(span / size)) * size;
    const bound = boundPorts();
    let free = true;
    for (let p = base; p < base + size && free; p++) free = !bound.has(p);
    if (free && reserve(base, size)) return base;
  }
  throw new Error(`no free block of ${size} ports in ${first}–${last} after 200 tries (reservations: ${lockDir})`);
}

/** Ports some TCP socket in this network namespace listens on right now (connections, TIME_WAIT included, do not stop a listener). */
function boundPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local) continue;
      ports.add(parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
  }
  return ports;
}

/** Takes every page the block touches, or none of them. */
function reserve(base: number, size: number): boolean {
  const taken: string[] = [];
  for (let p = Math.floor(base / page); p <= Math.floor((base + size - 1) / page); p++) {
    const file = join(lockDir, String(p * page));
    if (!takeLock(file)) {
      for (const f of taken) rmSync(f, { force: true });
      return false;
    }
    taken.push(file);
  }
  if (mine.length === 0) process.once('exit', () => mine.forEach((f) => rmSync(f, { force: true })));
  mine.push(...taken);
  return true;
}

function takeLock(file: string): boolean {
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!heldByDeadProcess(file)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

function heldByDeadProcess(file: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
