import { describe, expect, it } from 'vitest';
import { buildConfigSchema } from '../../src/core/config/config-schema.js';
import { parseConfig } from '../../src/core/config/load-config.js';

const base = { host: 'db.internal', user: 'tap', database: 'metrics' };
const parse = (ssh_tunnel: unknown) => parseConfig({ ...base, ssh_tunnel }, buildConfigSchema());

/** ssh_tunnel as MeltanoLabs tap-postgres reads it: off unless enable is true, then host, username and private_key required. */
describe('ssh_tunnel settings', () => {
  it('is off without enable: true (a Meltano project that sets only the defaults)', () => {
    expect(parse(undefined).sshTunnel).toBeUndefined();
    expect(parse({ enable: false, port: 22 }).sshTunnel).toBeUndefined();
    // Meltano 4 passes every sub-setting of its definition, null where none is set (the quick start failed on it)
    const unset = { enable: null, host: null, port: null, username: null, private_key: null, private_key_password: null };
    expect(parse(unset).sshTunnel).toBeUndefined();
    expect(parse({ ...unset, enable: true, host: 'b', username: 'u', private_key: 'k' }).sshTunnel).toMatchObject({
      port: 22,
      privateKeyPassword: undefined,
    });
  });

  it('takes host, port (22 by default), username, the key text and its passphrase', () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n';
    expect(parse({ enable: true, host: 'bastion', username: 'me', private_key: key }).sshTunnel).toEqual({
      host: 'bastion',
      port: 22,
      username: 'me',
      privateKey: key,
      privateKeyPassword: undefined,
    });
    // a key from an environment variable or .env, newlines written as \n
    const escaped = parse({
      enable: true,
      host: 'b',
      port: 2222,
      username: 'me',
      private_key: key.replace(/\n/g, '\\n'),
      private_key_password: 'pw',
    });
    expect(escaped.sshTunnel).toMatchObject({ port: 2222, privateKey: key, privateKeyPassword: 'pw' });
  });

  it('names what is missing when enabled, never a secret', () => {
    expect(() => parse({ enable: true, private_key_password: 'hunter2' })).toThrow(
      /^invalid config: ssh_tunnel\.enable is true but ssh_tunnel\.host, ssh_tunnel\.username, ssh_tunnel\.private_key are missing/,
    );
    expect(() => parse({ enable: true, host: 'b', username: 'u', private_key: 'k', port: 0 })).toThrow(/ssh_tunnel\.port must be >= 1/);
  });
});
