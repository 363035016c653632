// Throw-away PKI for TLS tests, made with the openssl command line: a CA, server certificates (SAN 127.0.0.1 and
// localhost) and client certificates signed by it, or self-signed ones nobody trusts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface CertFiles {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface TestCa extends CertFiles {
  dir: string;
  name: string;
}

function openssl(args: string[], cwd: string): void {
  const res = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${res.stderr || String(res.error)}`);
}

function files(dir: string, name: string): CertFiles {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  return { certFile, keyFile, cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
}

/** A self-signed CA in `dir`, files `<name>.pem` / `<name>.key`. */
export function createCa(dir: string, name: string): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { dir, name, ...files(dir, name) };
}

/**
 * A certificate signed by `ca` (or self-signed when `ca` is null): `server` certificates carry SAN
 * IP:127.0.0.1 and DNS:localhost, `client` ones the clientAuth usage.
 */
export function issueCert(dir: string, ca: TestCa | null, name: string, opts: { kind: 'server' | 'client'; cn?: string; org?: string }): CertFiles {
  fs.mkdirSync(dir, { recursive: true });
  const subj = `/O=${opts.org ?? 'kmp tests'}/CN=${opts.cn ?? name}`;
  const ext = opts.kind === 'server'
    ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
    : 'extendedKeyUsage=clientAuth\n';
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  if (ca === null) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subj,
      '-addext', opts.kind === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost' : 'extendedKeyUsage=clientAuth'], dir);
  } else {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  }
  return files(dir, name);
}

/** A PKCS12 keystore/truststore for the Java client: `openssl pkcs12` of a certificate (+ key). */
export function pkcs12(dir: string, name: string, cert: CertFiles | TestCa, password: string, withKey: boolean): string {
  const out = path.join(dir, `${name}.p12`);
  openssl(['pkcs12', '-export', '-in', cert.certFile, ...(withKey ? ['-inkey', cert.keyFile] : ['-nokeys']), '-out', out, '-passout', `pass:${password}`, '-name', name], dir);
  return out;
}
