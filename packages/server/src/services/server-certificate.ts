import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { Clock } from '../domain/clock.ts';
import { AcmeIssuer } from './acme-issuer.ts';

export interface ServerCertificateLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export type CertificateSource =
  { kind: 'files'; certFile: string; keyFile: string } | { kind: 'acme'; issuer: AcmeIssuer; host: string; dir: string };

/** An ACME certificate is renewed once this share of its lifetime has passed. */
export const renewAtLifetimeShare = 2 / 3;

/**
 * The certificate the HTTPS front door presents for the server's own name. From files,
 * it is re-read on every `check()` and swapped in when it changed (a renewal by certbot
 * or the like); a broken pair is logged and the old one kept. From ACME, it is kept in
 * the data dir and ordered again on the first `check()` past 2/3 of its lifetime, so a
 * failed renewal leaves weeks to retry before anything expires.
 */
export class ServerCertificate {
  private context: tls.SecureContext | null = null;
  private loaded = '';
  private notAfter: Date | null = null;
  private notBefore: Date | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly source: CertificateSource,
    private readonly clock: Clock,
    private readonly log: ServerCertificateLog,
  ) {}

  /** What TLS for the server's own name is served with right now; null before there is a certificate. */
  secureContext(): tls.SecureContext | null {
    return this.context;
  }

  /** When the certificate in use expires. */
  expiresAt(): Date | null {
    return this.notAfter;
  }

  /** Loads operator-named files at start: a server told to use them must not start without them. */
  loadFilesOrThrow(): void {
    if (this.source.kind !== 'files') return;
    const { certFile, keyFile } = this.source;
    this.use(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'));
  }

  /** Re-reads the files, or renews the ACME certificate when due, one check at a time. Never throws: problems are logged. */
  check(): Promise<void> {
    this.running ??= this.checkOnce().finally(() => (this.running = null));
    return this.running;
  }

  /** Waits for a check in progress (an ACME order writes into the data dir). */
  async close(): Promise<void> {
    await this.running;
  }

  private async checkOnce(): Promise<void> {
    try {
      if (this.source.kind === 'files') this.use(readFileSync(this.source.certFile, 'utf8'), readFileSync(this.source.keyFile, 'utf8'));
      else await this.checkAcme(this.source);
    } catch (err) {
      this.log.warn(
        { err },
        `TLS: the certificate for the server's own name could not be ${this.source.kind === 'files' ? 'loaded' : 'renewed'}; keeping the one in use`,
      );
    }
  }

  private async checkAcme(source: Extract<CertificateSource, { kind: 'acme' }>): Promise<void> {
    const certFile = join(source.dir, 'cert.pem');
    const keyFile = join(source.dir, 'key.pem');
    if (!this.context && existsSync(certFile) && existsSync(keyFile)) {
      try {
        this.use(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'));
      } catch (err) {
        this.log.warn({ err }, 'TLS: the stored ACME certificate cannot be used; ordering a new one');
      }
    }
    if (this.context && !this.due()) return;
    this.log.info({ host: source.host }, `TLS: ordering a certificate for ${source.host} over ACME`);
    const { cert, key } = await source.issuer.issue(source.host);
    this.use(cert, key);
    mkdirSync(source.dir, { recursive: true, mode: 0o700 });
    // Key first, then the certificate: a crash in between leaves a pair that fails to load, and a new order.
    writeFileSync(`${keyFile}.new`, key, { mode: 0o600 });
    renameSync(`${keyFile}.new`, keyFile);
    writeFileSync(`${certFile}.new`, cert);
    renameSync(`${certFile}.new`, certFile);
    this.log.info(
      { host: source.host, notAfter: this.notAfter },
      `TLS: new certificate for ${source.host}, valid until ${this.notAfter?.toISOString()}`,
    );
  }

  private due(): boolean {
    if (!this.notBefore || !this.notAfter) return true;
    const lifetime = this.notAfter.getTime() - this.notBefore.getTime();
    return this.clock.now().getTime() >= this.notBefore.getTime() + lifetime * renewAtLifetimeShare;
  }

  private use(cert: string, key: string): void {
    if (cert + key === this.loaded) return;
    // createSecureContext checks that the key matches the certificate.
    const context = tls.createSecureContext({ cert, key });
    const leaf = new X509Certificate(cert);
    this.context = context;
    this.loaded = cert + key;
    this.notBefore = new Date(leaf.validFrom);
    this.notAfter = new Date(leaf.validTo);
  }
}

/** The certificate source the config asks for, if any: files, or ACME for the public URL's host. */
export function serverCertificateFromConfig(
  config: {
    tlsCert?: string | undefined;
    tlsKey?: string | undefined;
    acmeDirectoryUrl?: string | undefined;
    acmeEmail?: string | undefined;
    acmeCaFile?: string | undefined;
    publicUrl: string;
    dataDir: string;
  },
  clock: Clock,
  log: ServerCertificateLog,
): { certificate: ServerCertificate; issuer: AcmeIssuer | null } | null {
  if (config.tlsCert && config.tlsKey) {
    return {
      certificate: new ServerCertificate({ kind: 'files', certFile: config.tlsCert, keyFile: config.tlsKey }, clock, log),
      issuer: null,
    };
  }
  if (!config.acmeDirectoryUrl) return null;
  const issuer = new AcmeIssuer({
    directoryUrl: config.acmeDirectoryUrl,
    email: config.acmeEmail,
    caFile: config.acmeCaFile,
    accountKeyFile: join(config.dataDir, 'acme-account-key.pem'),
  });
  const source = { kind: 'acme' as const, issuer, host: new URL(config.publicUrl).hostname, dir: join(config.dataDir, 'tls') };
  return { certificate: new ServerCertificate(source, clock, log), issuer };
}

/** A public URL in plain http outside loopback sends every secret in clear: the operator is told at start. */
export function warnIfPlainHttp(publicUrl: string, log: { warn(message: string): void }): void {
  const url = new URL(publicUrl);
  if (url.protocol !== 'http:' || /^(127\.|localhost$|\[::1\]$)|\.localhost$/.test(url.hostname)) return;
  log.warn(
    `the public URL ${publicUrl} is plain http: passwords, tokens and renters' credentials cross the network in clear; ` +
      'use an https public URL with --tls-cert/--tls-key or --acme-directory-url',
  );
}
