import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OwnCluster } from './own-cluster.js';

/**
 * In `dir`: a CA (`ca.crt`) and a server certificate signed by it (`server.crt`, `server.key`) for the
 * common name and subjectAltName given (e.g. `DNS:localhost`); with `otherCa`, a second, unrelated CA
 * (`other-ca.crt`) for the tests that must refuse it.
 */
export function makeCertificates(dir: string, cn: string, san: string, otherCa = false): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tap test CA');
  if (otherCa) ssl('req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '2', '-subj', '/CN=some other CA');
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${cn}`);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=${san}\n`);
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
}

/** ssl = on in a cluster of a test's own, with the server certificate of `certs` (owned by the server's OS user). */
export async function enableServerTls(cluster: OwnCluster, certs: string): Promise<void> {
  const pgUser = process.getuid?.() === 0 ? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })) : undefined;
  const pgGroup = process.getuid?.() === 0 ? Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) : undefined;
  for (const f of ['server.crt', 'server.key']) {
    copyFileSync(join(certs, f), join(cluster.dir, f));
    chmodSync(join(cluster.dir, f), 0o600);
    if (pgUser !== undefined) chownSync(join(cluster.dir, f), pgUser, pgGroup!);
  }
  for (const setting of [`ssl = on`, `ssl_cert_file = 'server.crt'`, `ssl_key_file = 'server.key'`])
    await cluster.sql(`ALTER SYSTEM SET ${setting}`);
}
