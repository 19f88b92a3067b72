import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  nativeDatabase,
  nativeSkipReason,
  nativeTimescaleDatabase,
  nativeTimescaleSkipReason,
  type TestDatabase,
} from '../helpers/databases.js';
import { dropSlots, selectLogBased } from '../helpers/log-based.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { enableServerTls, makeCertificates } from './tls-certificates.js';
import { startOwnCluster } from './own-cluster.js';
import { sshdSkipReason, startOwnSshd, startRelay, type CuttableRelay, type OwnSshd } from './own-sshd.js';
import { TapProcess, until } from './tap-process.js';

const ROWS = 100_000; // ~20 MB: the read is surely in flight when the tunnel drops

/**
 * ssh_tunnel against a real OpenSSH server of this file's own. The database is reached through a gate
 * that admits only connections opened by that sshd (it looks the peer up in /proc): a connection of the
 * tap's that did not go through the tunnel (discovery, the pool's readers, read-ahead, the replication
 * connections) would be refused and fail the run.
 */
describe.skipIf(nativeSkipReason || sshdSkipReason)('SSH tunnel (an OpenSSH server of this file)', () => {
  let db: TestDatabase;
  let sshd: OwnSshd;
  let gate: CuttableRelay;
  let relay: CuttableRelay;
  const config = (tunnel: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, url = db.url): string => {
    const u = new URL(url);
    return tmpJson({
      host: '127.0.0.1',
      port: gate.port,
      user: u.username,
      database: u.pathname.slice(1),
      sslmode: 'disable',
      ssh_tunnel: { enable: true, host: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.key, ...tunnel },
      ...extra,
    });
  };
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`
      CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
      INSERT INTO items SELECT g, 'item ' || g, '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 500) g;
      CREATE TABLE wide (id int PRIMARY KEY, payload text NOT NULL);
      INSERT INTO wide SELECT g, md5(g::text) || repeat('p', 150) FROM generate_series(1, ${ROWS}) g;`);
    sshd = await startOwnSshd();
    gate = await startRelay(Number(new URL(db.url).port), (socket) => sshd.owns(socket));
    relay = await startRelay(sshd.port);
  });
  afterAll(async () => {
    await relay?.close();
    await gate?.close();
    sshd?.destroy();
    if (db) await dropSlots(db);
    await db?.close();
  });

  it('discovery, FULL_TABLE and INCREMENTAL (a second run after new rows), every connection through the tunnel', async () => {
    // the gate works: without the tunnel the tap cannot reach the database
    const direct = await runTap(['--config', config({ enable: false }, { retry_attempts: 1 }), '--discover']);
    expect(direct.code).not.toBe(0);
    expect(direct.stdout).toBe('');
    const before = gate.accepted;
    const path = config();
    const catalog = await discover(path);
    expect(catalog.streams.map((s) => s.tap_stream_id).sort()).toEqual(['public-items', 'public-wide']);
    const full = await runTap(['--config', path, '--catalog', tmpJson(select(catalog, { 'public-items': {} }))]);
    expect(full.code, full.stderr).toBe(0);
    expect(records(full.messages).map((r) => r.id)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(full.stderr).toMatch(/the SSH tunnel root@127\.0\.0\.1:\d+: forwarding 127\.0\.0\.1:\d+ to 127\.0\.0\.1:\d+/);
    expect(full.stderr).not.toContain(sshd.key.split('\n')[1]!);

    const incremental = tmpJson(select(catalog, { 'public-items': { method: 'INCREMENTAL', key: 'updated_at' } }));
    const first = await runTap(['--config', path, '--catalog', incremental]);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages)).toHaveLength(500);
    await db.sql(`INSERT INTO items VALUES (501, 'new', '2027-01-01'), (502, 'newer', '2027-01-02')`);
    const second = await runTap(['--config', path, '--catalog', incremental, '--state', tmpJson(lastState(first.messages))]);
    expect(second.code, second.stderr).toBe(0);
    // the bookmark's own row again (>=), then the new ones
    expect(records(second.messages).map((r) => r.id)).toEqual([500, 501, 502]);
    expect(gate.accepted - before).toBeGreaterThanOrEqual(4);
  });

  it.skipIf(!!nativeTimescaleSkipReason)(
    'a hypertable chunk by chunk through the tunnel: the next chunk read ahead, consistent_snapshot',
    async () => {
      const tsdb = await nativeTimescaleDatabase();
      try {
        await tsdb.sql(`CREATE TABLE metrics (at timestamptz NOT NULL, device int NOT NULL, v double precision);
        SELECT create_hypertable('metrics', 'at', chunk_time_interval => interval '1 day');
        INSERT INTO metrics SELECT '2026-01-01'::timestamptz + g * interval '1 minute', g % 5, g FROM generate_series(0, 60 * 24 * 4 - 1) g`);
        const path = config({}, { consistent_snapshot: true }, tsdb.url);
        const r = await runTap([
          '--config',
          path,
          '--catalog',
          tmpJson(select(await discover(path), { 'public-metrics': { discovered: true } })),
        ]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/public-metrics: reading the next chunk ahead on a second connection/);
        expect(r.stderr).toMatch(/consistent_snapshot: every chunk of this sync reads snapshot/);
        expect(records(r.messages)).toHaveLength(60 * 24 * 4);
      } finally {
        await tsdb.close();
      }
    },
  );

  it('LOG_BASED through the tunnel: the initial copy (exported-snapshot replication connection) and a later run with changes', async () => {
    const path = config({}, { replication_slot: `tap_ssh_${randomBytes(3).toString('hex')}` });
    const catalog = tmpJson(selectLogBased(await discover(path), ['public-items']));
    const first = await runTap(['--config', path, '--catalog', catalog]);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages).length).toBeGreaterThanOrEqual(500);
    await db.sql(
      `INSERT INTO items VALUES (900, 'cdc', now()); UPDATE items SET name = 'changed' WHERE id = 1; DELETE FROM items WHERE id = 2`,
    );
    const second = await runTap(['--config', path, '--catalog', catalog, '--state', tmpJson(lastState(first.messages))]);
    expect(second.code, second.stderr).toBe(0);
    const changes = records(second.messages).map((r) => [r.id, r.name, r._sdc_deleted_at !== null]);
    expect(changes).toEqual([
      [900, 'cdc', false],
      [1, 'changed', false],
      [2, null, true],
    ]);
  });

  it('a key the SSH server does not know: exit 2 before any output, one CRITICAL line naming the tunnel and the fix, no key text', async () => {
    const r = await runTap(['--config', config({ private_key: sshd.otherKey }), '--discover']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^CRITICAL the SSH tunnel root@127\.0\.0\.1:\d+ refused the key: check ssh_tunnel\.username and ssh_tunnel\.private_key .*authorized_keys/m,
    );
    expect(r.stderr).not.toContain(sshd.otherKey.split('\n')[1]!);
  });

  it('an SSH server that does not answer, a key that is not one, a wrong passphrase: exit 2 naming the setting; the right passphrase works', async () => {
    const closed = await runTap(['--config', config({ port: 1 }), '--discover']);
    expect(closed.code, closed.stderr).toBe(2);
    expect(closed.stdout).toBe('');
    expect(closed.stderr).toMatch(
      /^CRITICAL cannot reach the SSH tunnel root@127\.0\.0\.1:1 \(ECONNREFUSED\): check ssh_tunnel\.host and ssh_tunnel\.port/m,
    );

    const path = await runTap(['--config', config({ private_key: '/home/me/.ssh/id_ed25519' }), '--discover']);
    expect(path.code, path.stderr).toBe(2);
    expect(path.stderr).toMatch(
      /^CRITICAL the SSH tunnel root@127\.0\.0\.1:\d+: ssh_tunnel\.private_key is not a private key .*not its path$/m,
    );

    const wrong = await runTap(['--config', config({ private_key: sshd.encryptedKey, private_key_password: 'wrong' }), '--discover']);
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toMatch(/^CRITICAL the SSH tunnel .*: ssh_tunnel\.private_key_password does not decrypt ssh_tunnel\.private_key/m);
    expect(wrong.stderr).not.toContain('wrong');

    // as an environment variable often holds it: newlines written as \n
    const escaped = sshd.encryptedKey.replace(/\n/g, '\\n');
    const right = await runTap(['--config', config({ private_key: escaped, private_key_password: sshd.passphrase }), '--discover']);
    expect(right.code, right.stderr).toBe(0);
    expect(right.stderr).not.toContain(sshd.passphrase);
  });

  it('a database the SSH server cannot reach: exit 2 at start naming both ends; a wrong database name is reported with the tunnel', async () => {
    const refused = await runTap(['--config', config({}, { port: 1 }), '--discover']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /^CRITICAL the SSH tunnel root@127\.0\.0\.1:\d+ is open, but the SSH server does not forward to the database 127\.0\.0\.1:1 \(.*\): set host and port as the SSH server sees the database, and allow TCP forwarding there \(AllowTcpForwarding\)$/m,
    );
    const u = new URL(db.url);
    const missing = await runTap(['--config', config({}, {}, db.url.replace(u.pathname, '/no_such_db')), '--discover']);
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(
      new RegExp(
        `^CRITICAL database "no_such_db" does not exist at 127\\.0\\.0\\.1:${gate.port} \\(through the SSH tunnel root@127\\.0\\.0\\.1:\\d+\\)`,
        'm',
      ),
    );
  });

  it('TLS through the tunnel: verify-full checks the certificate against the database host as the SSH server sees it, not 127.0.0.1', async () => {
    const certs = mkdtempSync(join(tmpdir(), 'tap-ssh-tls-'));
    const cluster = startOwnCluster();
    try {
      // a certificate for the name "localhost" only: the tunnel's local end (127.0.0.1) does not match it
      makeCertificates(certs, 'localhost', 'DNS:localhost');
      await enableServerTls(cluster, certs);
      await cluster.setHostAuth(['hostssl all all 127.0.0.1/32 trust', 'hostssl all all ::1/128 trust', 'host all all 0.0.0.0/0 reject']);
      const tls = (host: string): string =>
        tmpJson({
          host,
          port: cluster.port,
          user: 'postgres',
          database: 'postgres',
          sslmode: 'verify-full',
          ssl_root_cert: join(certs, 'ca.crt'),
          ssh_tunnel: { enable: true, host: '127.0.0.1', port: sshd.port, username: 'root', private_key: sshd.key },
        });
      const ok = await runTap(['--config', tls('localhost'), '--discover']);
      expect(ok.code, ok.stderr).toBe(0);
      const wrongName = await runTap(['--config', tls('127.0.0.1'), '--discover']);
      expect(wrongName.code, wrongName.stderr).toBe(2);
      expect(wrongName.stderr).toMatch(
        /^CRITICAL TLS verification of 127\.0\.0\.1:\d+ \(through the SSH tunnel .*\) failed: .*IP: 127\.0\.0\.1 is not in the cert's list/m,
      );
    } finally {
      cluster.destroy();
      rmSync(certs, { recursive: true, force: true });
    }
  });

  it('the SSH connection cut mid-read: the read is retried through a new SSH connection, every row exactly once', async () => {
    const path = config({ port: relay.port }, { state_every_n_rows: 1000, retry_initial_delay_ms: 200 });
    const catalog = tmpJson(select(await discover(path), { 'public-wide': {} }));
    const tap = new TapProcess(['--config', path, '--catalog', catalog]);
    await tap.waitFor((m) => m.type === 'RECORD');
    tap.pause();
    const sshConnections = relay.accepted;
    relay.cut();
    tap.resume();
    const { code } = await tap.exited;
    expect(code, tap.stderr).toBe(0);
    expect(tap.stderr).toMatch(/the SSH connection closed; the next read opens it again/);
    expect(tap.stderr).toMatch(/public-wide: .*; retry 1\/4 in 200 ms from the last bookmark/);
    expect(relay.accepted).toBeGreaterThan(sshConnections);
    const ids = records(tap.messages).map((r) => r.id as number);
    expect(new Set(ids).size).toBe(ROWS);
    expect(ids).toHaveLength(ROWS);
  });

  it('the SSH server killed mid-read and started again: retried until it is back, every row exactly once', async () => {
    const path = config({}, { state_every_n_rows: 1000, retry_initial_delay_ms: 500 });
    const catalog = tmpJson(select(await discover(path), { 'public-wide': {} }));
    const tap = new TapProcess(['--config', path, '--catalog', catalog]);
    await tap.waitFor((m) => m.type === 'RECORD');
    tap.pause();
    sshd.kill();
    tap.resume();
    await until(async () => (/retry 1\/4/.test(tap.stderr) ? true : undefined), 'the first retry');
    await sshd.start();
    const { code } = await tap.exited;
    expect(code, tap.stderr).toBe(0);
    const ids = records(tap.messages).map((r) => r.id as number);
    expect(new Set(ids).size).toBe(ROWS);
    expect(ids).toHaveLength(ROWS);
  });
});
