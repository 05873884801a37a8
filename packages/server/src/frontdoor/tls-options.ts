import { isIP } from 'node:net';
import { opt } from '@p2pvps/protocol/options';

/**
 * Where the certificate for the server's own name comes from: files the operator names
 * (renewed by something else, e.g. certbot, and re-read when they change), or an ACME CA
 * the server asks itself over HTTP-01. Without either, the HTTPS front door only passes
 * device names through.
 */
export const tlsOptions = {
  tlsCert: {
    flag: 'tls-cert',
    env: 'P2PVPS_TLS_CERT',
    description:
      "PEM file with the certificate (and its chain) for the server's own name on the HTTPS front door; re-read when it changes.",
    schema: opt.string().optional(),
  },
  tlsKey: {
    flag: 'tls-key',
    env: 'P2PVPS_TLS_KEY',
    description: 'PEM file with the private key of --tls-cert.',
    schema: opt.string().optional(),
  },
  acmeDirectoryUrl: {
    flag: 'acme-directory-url',
    env: 'P2PVPS_ACME_DIRECTORY_URL',
    description:
      "ACME directory that issues the certificate for the https public URL's host, over HTTP-01 on the HTTP front door " +
      '(which must then be port 80), renewed at 2/3 of its lifetime; e.g. https://acme-v02.api.letsencrypt.org/directory.',
    schema: opt.url().optional(),
  },
  acmeEmail: {
    flag: 'acme-email',
    env: 'P2PVPS_ACME_EMAIL',
    description: 'Contact address given to the ACME CA (expiry warnings).',
    schema: opt.string().optional(),
  },
  acmeCaFile: {
    flag: 'acme-ca-file',
    env: 'P2PVPS_ACME_CA_FILE',
    description: "PEM file of CA certificates to trust for the ACME directory's own HTTPS (a private or test CA).",
    schema: opt.string().optional(),
  },
  tlsCheckIntervalMs: {
    flag: 'tls-check-interval-ms',
    env: 'P2PVPS_TLS_CHECK_INTERVAL_MS',
    description: 'How often the certificate files are re-read, or the ACME certificate is checked for renewal.',
    schema: opt.positiveInt(),
    default: '3600000',
  },
};

type Values = Partial<Record<string, unknown>>;

/** Certificate settings that only make sense together. */
export function tlsProblems(v: Values): string[] {
  const problems: string[] = [];
  if ((v.tlsCert === undefined) !== (v.tlsKey === undefined)) {
    problems.push('--tls-cert and --tls-key: give both, the certificate and its key.');
  }
  if (v.acmeDirectoryUrl !== undefined) {
    const url = typeof v.publicUrl === 'string' && URL.canParse(v.publicUrl) ? new URL(v.publicUrl) : null;
    if (v.tlsCert !== undefined) problems.push('--acme-directory-url: not with --tls-cert; choose files or ACME.');
    else if (url && url.protocol !== 'https:')
      problems.push('--acme-directory-url: needs an https --public-url, whose host the certificate is for.');
    else if (url && !isAcmeName(url.hostname)) {
      problems.push(`--acme-directory-url: ${url.hostname} is not a DNS name an ACME CA can check; use --tls-cert and --tls-key.`);
    }
  }
  return problems;
}

function isAcmeName(host: string): boolean {
  return host.includes('.') && isIP(host.replace(/^\[|\]$/g, '')) === 0 && !/(^|\.)localhost$/.test(host);
}
