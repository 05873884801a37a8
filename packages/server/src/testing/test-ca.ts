import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A throw-away certificate authority made with the openssl command, for tests that need a
 * TLS server a real client verifies: the server's own certificate, or pebble's listener.
 */
export interface TestCa {
  /** The CA certificate, PEM: what a client is told to trust. */
  caFile: string;
  /** A key and a certificate signed by the CA for DNS names and IP addresses, written into the CA's directory. */
  issue(file: string, names: string[]): { certFile: string; keyFile: string };
}

export function createTestCa(dir: string): TestCa {
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=p2pvps test CA', '-keyout', caKey, '-out', caFile);
  let serial = 0;
  return {
    caFile,
    issue(file, names) {
      const keyFile = join(dir, `${file}-key.pem`);
      const certFile = join(dir, `${file}.pem`);
      const csr = join(dir, `${file}.csr`);
      const ext = join(dir, `${file}.ext`);
      const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      openssl('req', '-new', ...ec, '-subj', `/CN=${names[0]}`, '-keyout', keyFile, '-out', csr);
      const set = String(Date.now() * 100 + ++serial);
      openssl(
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caFile,
        '-CAkey',
        caKey,
        '-set_serial',
        set,
        '-days',
        '1',
        '-extfile',
        ext,
        '-out',
        certFile,
      );
      return { certFile, keyFile };
    },
  };
}
