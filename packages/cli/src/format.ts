import type { Hardware, Offer } from '@p2pvps/protocol/schemas';
import { formatSize } from './size.ts';

/**
 * Presentation helpers shared by the commands: text from the server made safe for a
 * terminal, times, hardware summaries and shell quoting for commands we print.
 */

/**
 * Replaces control characters (escape sequences, carriage returns) with `?`. Device
 * names and descriptions are written by other users; they must not be able to move the
 * cursor or rewrite what the terminal shows.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** `3m ago`, `in 2h 5m`, `just now`; `-` when there is no time. */
export function formatRelative(iso: string | null, now: Date): string {
  if (iso === null) return '-';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const diffMs = then - now.getTime();
  const seconds = Math.round(Math.abs(diffMs) / 1000);
  if (seconds < 5) return 'just now';
  let span: string;
  if (seconds < 60) span = `${seconds}s`;
  else if (seconds < 3600) span = `${Math.floor(seconds / 60)}m`;
  else if (seconds < 48 * 3600) {
    const minutes = Math.floor((seconds % 3600) / 60);
    span = `${Math.floor(seconds / 3600)}h` + (minutes ? ` ${minutes}m` : '');
  } else span = `${Math.floor(seconds / 86400)}d`;
  return diffMs < 0 ? `${span} ago` : `in ${span}`;
}

/** `2025-01-02 03:04:05 UTC (in 2h)`, for detail views where the exact time matters. */
export function formatTime(iso: string | null, now: Date): string {
  if (iso === null) return '-';
  const then = new Date(iso);
  if (Number.isNaN(then.getTime())) return iso;
  const exact = then
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return `${exact} (${formatRelative(iso, now)})`;
}

/** `arm64, 4 cores, 3.7 GiB RAM, 29.0 GiB disk`, and what / gets beside the disk when the device says. */
export function formatHardware(hardware: Hardware | null): string {
  if (hardware === null) return '-';
  const cores = `${hardware.cores} ${hardware.cores === 1 ? 'core' : 'cores'}`;
  return `${hardware.arch}, ${cores}, ${formatSize(hardware.memoryBytes)} RAM, ${formatSize(hardware.diskBytes)} disk${formatSystemDisk(hardware)}`;
}

/**
 * What a rental's / gets beside its disk (/home): ` + 2.0 GiB system (/)` where the device
 * caps it, ` (/ not capped: the device's disk)` where it cannot; nothing from older agents.
 */
export function formatSystemDisk(hardware: Pick<Hardware, 'systemDiskBytes'>): string {
  if (hardware.systemDiskBytes === undefined) return '';
  return hardware.systemDiskBytes === null ? " (/ not capped: the device's disk)" : ` + ${formatSize(hardware.systemDiskBytes)} system (/)`;
}

/** A bandwidth cap: `20 Mbit/s each way`, or `-` for none. */
export function formatBandwidth(mbit: number | null | undefined): string {
  return mbit === null || mbit === undefined ? '-' : `${mbit} Mbit/s each way`;
}

/** What one rental gets: `1 core, 1.0 GiB memory, 4.0 GiB disk, 20 Mbit/s each way`. */
export function formatOffer(offer: Offer): string {
  const cores = `${offer.cores} ${offer.cores === 1 ? 'core' : 'cores'}`;
  const bandwidth = offer.bandwidthMbit === null ? 'no bandwidth cap' : formatBandwidth(offer.bandwidthMbit);
  return `${cores}, ${formatSize(offer.memoryBytes)} memory, ${formatSize(offer.diskBytes)} disk, ${bandwidth}`;
}

/** What one rental gets, short, for tables: `1 core, 512.0 MiB RAM, 4.0 GiB disk, 20 Mbit/s`. */
export function formatOfferShort(offer: Offer): string {
  const cores = `${offer.cores} ${offer.cores === 1 ? 'core' : 'cores'}`;
  const bandwidth = offer.bandwidthMbit === null ? '' : `, ${offer.bandwidthMbit} Mbit/s`;
  return `${cores}, ${formatSize(offer.memoryBytes)} RAM, ${formatSize(offer.diskBytes)} disk${bandwidth}`;
}

/** Quotes a word for a POSIX shell only when it needs it, so printed commands stay readable. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `ssh -p 2201 u_x@example.org` */
export function sshCommand(connection: { host: string; port: number; username: string }): string {
  return `ssh -p ${connection.port} ${shellQuote(`${connection.username}@${connection.host}`)}`;
}

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Quotes a file name for ssh's own option parser and escapes its `%` tokens. */
export function sshConfigPath(path: string): string {
  const escaped = path.replace(/%/g, '%%');
  return /[\s"]/.test(escaped) ? `"${escaped.replace(/"/g, '\\"')}"` : escaped;
}
