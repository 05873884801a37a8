import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import acme from 'acme-client';

export interface AcmeIssuerOptions {
  directoryUrl: string;
  /** Contact address for the CA's expiry mails. */
  email?: string | undefined;
  /** CA certificates to trust for the directory's own HTTPS (a private or test CA), PEM. */
  caFile?: string | undefined;
  /** Where the account key is kept, so renewals use the same ACME account. */
  accountKeyFile: string;
}

/**
 * Gets certificates from an ACME CA (RFC 8555) over HTTP-01: while an order is open, the
 * CA fetches `http://NAME/.well-known/acme-challenge/TOKEN`, which the HTTP front door
 * hands to the API, which answers from `keyAuthorization`.
 */
export class AcmeIssuer {
  private readonly challenges = new Map<string, string>();

  constructor(private readonly o: AcmeIssuerOptions) {
    // acme-client talks through its own axios instance; only its requests trust this CA.
    if (o.caFile) acme.axios.defaults.httpsAgent = new https.Agent({ ca: readFileSync(o.caFile) });
  }

  /** The answer to an HTTP-01 challenge of an open order, if the token is one. */
  keyAuthorization(token: string): string | undefined {
    return this.challenges.get(token);
  }

  /** Orders a certificate for `host` with a fresh key: the chain and the key, PEM. */
  async issue(host: string): Promise<{ cert: string; key: string }> {
    const client = new acme.Client({ directoryUrl: this.o.directoryUrl, accountKey: await this.accountKey() });
    const [key, csr] = await acme.crypto.createCsr({ commonName: host, altNames: [host] }, await acme.crypto.createPrivateEcdsaKey());
    const cert = await client.auto({
      csr,
      ...(this.o.email ? { email: this.o.email } : {}),
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The client's own pre-check would fetch the name from here, which proves nothing
      // (and fails behind NAT hairpinning); the CA's check is the one that counts.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => void this.challenges.set(challenge.token, keyAuthorization),
      challengeRemoveFn: async (_authz, challenge) => void this.challenges.delete(challenge.token),
    });
    return { cert, key: key.toString() };
  }

  private async accountKey(): Promise<Buffer> {
    const file = this.o.accountKeyFile;
    if (existsSync(file)) return readFileSync(file);
    const key = await acme.crypto.createPrivateEcdsaKey();
    writeFileSync(file, key, { mode: 0o600 });
    return key;
  }
}
