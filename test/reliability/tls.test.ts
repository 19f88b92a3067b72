import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeSkipReason } from '../helpers/databases.js';
import { records, runTap, select, discover, tmpJson, type TapRun } from '../helpers/run-tap.js';
import { startOwnCluster, type OwnCluster } from './own-cluster.js';
import { selectLogBased } from '../helpers/log-based.js';
import { enableServerTls, makeCertificates } from './tls-certificates.js';

const PROBE = new URL('./fixtures/session-probe-plugin.mjs', import.meta.url).pathname;

/**
 * TLS against a cluster of this file with ssl = on and a certificate from a CA made here; pg_hba accepts
 * only TLS connections over TCP. The probe plugin asks pg_stat_ssl about the tap's own session.
 */
describe.skipIf(nativeSkipReason)('TLS (a cluster with ssl = on)', () => {
  let cluster: OwnCluster;
  let certs: string;
  const run = (settings: Record<string, unknown>): Promise<TapRun> => {
    const probe = { module: PROBE, options: { sql: 'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()' } };
    const config = { host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres', plugins: [probe], ...settings };
    return runTap(['--config', tmpJson(config), '--catalog', tmpJson(catalog)]);
  };
  let catalog: unknown;
  beforeAll(async () => {
    certs = mkdtempSync(join(tmpdir(), 'tap-tls-'));
    makeCertificates(certs, '127.0.0.1', 'IP:127.0.0.1,DNS:localhost', true);
    cluster = startOwnCluster();
    await enableServerTls(cluster, certs);
    await cluster.sql('CREATE TABLE public.secure(id int PRIMARY KEY); INSERT INTO public.secure VALUES (1), (2), (3)');
    await cluster.setHostAuth(['hostssl all all 127.0.0.1/32 trust', 'hostnossl all all 127.0.0.1/32 reject']);
    const path = tmpJson({ host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres', sslmode: 'require' });
    catalog = select(await discover(path), { 'public-secure': {} });
  });
  afterAll(() => {
    cluster?.destroy();
    if (certs) rmSync(certs, { recursive: true, force: true });
  });

  it('sslmode verify-full with ssl_root_cert: the sync runs over TLS (pg_stat_ssl of the tap session)', async () => {
    const r = await run({ sslmode: 'verify-full', ssl_root_cert: join(certs, 'ca.crt') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/PROBE \[\{"ssl":true,"version":"TLSv1\.[23]"\}\]/);
    expect(records(r.messages).map((x) => x.id)).toEqual([1, 2, 3]);
  });

  it('sslmode verify-ca with the CA works too', async () => {
    const r = await run({ sslmode: 'verify-ca', ssl_root_cert: join(certs, 'ca.crt') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/PROBE \[\{"ssl":true/);
  });

  it('sslmode require (no CA): encrypted, not verified', async () => {
    const r = await run({ sslmode: 'require' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/PROBE \[\{"ssl":true/);
  });

  it('sslmode prefer (the default) and allow, against a server that accepts only TLS: both end up on TLS, as with libpq', async () => {
    for (const sslmode of ['prefer', 'allow']) {
      const r = await run({ sslmode });
      expect(r.code, `${sslmode}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toMatch(/PROBE \[\{"ssl":true/);
    }
  });

  it('verify-full with another CA: refused, exit 2, a clear error naming the settings', async () => {
    const r = await run({ sslmode: 'verify-full', ssl_root_cert: join(certs, 'other-ca.crt') });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^CRITICAL TLS verification of 127\.0\.0\.1:\d+ failed: .*; check sslmode and ssl_root_cert$/m);
    expect(r.stdout).toBe('');
  });

  it('verify-full without ssl_root_cert: exit 2 before connecting, says what to add', async () => {
    const r = await run({ sslmode: 'verify-full' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^CRITICAL sslmode verify-full needs ssl_root_cert/m);
  });

  it('sslmode disable against a server that accepts only TLS: exit 2, says to set sslmode', async () => {
    const r = await run({ sslmode: 'disable' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /^CRITICAL 127\.0\.0\.1:\d+ refused the connection of user "postgres": the server accepts only TLS connections from here: set sslmode to require, verify-ca or verify-full \(.*no encryption\)$/m,
    );
    expect(r.stdout).toBe('');
  });

  it("LOG_BASED with verify-full: the replication connections (the copy's snapshot, the change stream) verify against ssl_root_cert too", async () => {
    const settings = {
      host: '127.0.0.1',
      port: cluster.port,
      user: 'postgres',
      database: 'postgres',
      sslmode: 'verify-full',
      ssl_root_cert: join(certs, 'ca.crt'),
      replication_slot: 'tls_slot',
      publication: 'tls_pub',
    };
    const config = tmpJson(settings);
    const logBased = selectLogBased(await discover(config), ['public-secure']);
    const args = ['--config', config, '--catalog', tmpJson(logBased)];
    const first = await runTap(args);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages).map((x) => x.id)).toEqual([1, 2, 3]);
    await cluster.sql('INSERT INTO public.secure VALUES (4)');
    const state = first.messages.filter((m) => m.type === 'STATE').at(-1)!.value;
    const second = await runTap([...args, '--state', tmpJson(state)]);
    expect(second.code, second.stderr).toBe(0);
    expect(records(second.messages).map((x) => x.id)).toEqual([4]);
    // pg_hba rejects every connection over TCP without TLS: both replication connections were TLS, verified by the CA
    await cluster.sql(`SELECT pg_drop_replication_slot('tls_slot')`);
  });
});
