import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import ssh2, { type ClientChannel } from 'ssh2';
import type { ConnectionSettings, SshTunnelSettings } from '../config/tap-config.js';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logger.js';

type SshClient = InstanceType<typeof ssh2.Client>;

/**
 * A local port forwarded through one SSH connection to the database's host and port, as the SSH server
 * sees them (`ssh -L`), so every connection the tap opens (the pool's, the replication connections) only
 * needs another host and port. ssh2 rather than the `ssh` binary: no process to supervise, no terminal
 * prompts, the key stays in memory, and a failure arrives as an error with a level (authentication,
 * socket) instead of text on stderr.
 *
 * A dropped SSH connection fails the channels on it, so the reads on them fail as lost connections and
 * are retried (stream-sync's retry); the next connection through the tunnel opens a new SSH connection.
 */
export class SshTunnel {
  private ssh?: Promise<SshClient>;
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly settings: SshTunnelSettings,
    private readonly target: { host: string; port: number },
    private readonly log: Logger,
    private readonly server: Server,
  ) {}

  /** `user@host:port`, as messages name the tunnel */
  static describe(s: SshTunnelSettings): string {
    return `the SSH tunnel ${s.username}@${s.host}:${s.port}`;
  }

  /**
   * Connects to the SSH server, checks that it forwards to the database, and listens on a free port of
   * 127.0.0.1. A key that cannot be read or is refused, an SSH server that cannot be reached and a
   * forward it refuses are ConfigurationErrors (exit 2) naming the tunnel and the fix.
   */
  static async open(settings: SshTunnelSettings, target: { host: string; port: number }, log: Logger): Promise<SshTunnel> {
    checkKey(settings);
    const server = createServer();
    const tunnel = new SshTunnel(settings, target, log, server);
    try {
      const ssh = await tunnel.client();
      await forward(ssh, target).then(
        (ch) => ch.close(),
        (err: Error) => {
          throw new ConfigurationError(
            `${SshTunnel.describe(settings)} is open, but the SSH server does not forward to the database ${target.host}:${target.port} (${err.message}): set host and port as the SSH server sees the database, and allow TCP forwarding there (AllowTcpForwarding)`,
          );
        },
      );
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    } catch (err) {
      await tunnel.close();
      throw err;
    }
    server.on('connection', (socket) => tunnel.accept(socket));
    log.info(`${SshTunnel.describe(settings)}: forwarding 127.0.0.1:${tunnel.localPort} to ${target.host}:${target.port}`);
    return tunnel;
  }

  get localPort(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The connection settings that go through this tunnel (TLS still checks the database's own name). */
  route(connection: ConnectionSettings): ConnectionSettings {
    return {
      ...connection,
      host: '127.0.0.1',
      port: this.localPort,
      tunnel: { host: this.target.host, port: this.target.port, via: SshTunnel.describe(this.settings) },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    const ssh = await this.ssh?.catch(() => undefined);
    ssh?.end();
  }

  /** A local connection: a channel to the database, on the SSH connection (opened again if it dropped). */
  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pause();
    this.client()
      .then((ssh) => forward(ssh, this.target))
      .then(
        (channel) => {
          if (socket.destroyed) return void channel.close();
          channel.on('error', () => socket.destroy());
          channel.on('close', () => socket.destroy());
          socket.on('close', () => channel.close());
          socket.pipe(channel).pipe(socket);
          socket.resume();
        },
        (err: Error) => {
          // the client sees a lost connection, which the sync retries
          this.log.warn(`${SshTunnel.describe(this.settings)}: cannot reach ${this.target.host}:${this.target.port}: ${err.message}`);
          socket.destroy();
        },
      );
  }

  /** The SSH connection, opened on first use and again after it dropped. */
  private client(): Promise<SshClient> {
    if (this.closed) return Promise.reject(new Error('the SSH tunnel is closed'));
    this.ssh ??= connect(this.settings).then(
      (ssh) => {
        ssh.on('close', () => {
          if (!this.closed) this.log.warn(`${SshTunnel.describe(this.settings)}: the SSH connection closed; the next read opens it again`);
          this.ssh = undefined;
          for (const s of this.sockets) s.destroy();
        });
        return ssh;
      },
      (err: unknown) => {
        this.ssh = undefined;
        throw err;
      },
    );
    return this.ssh;
  }
}

function checkKey(s: SshTunnelSettings): void {
  const parsed = ssh2.utils.parseKey(s.privateKey, s.privateKeyPassword);
  if (!(parsed instanceof Error)) return;
  const what = SshTunnel.describe(s);
  if (/encrypted|passphrase|bad decrypt|integrity check/i.test(parsed.message)) {
    throw new ConfigurationError(
      s.privateKeyPassword
        ? `${what}: ssh_tunnel.private_key_password does not decrypt ssh_tunnel.private_key: give the key's passphrase`
        : `${what}: ssh_tunnel.private_key is encrypted: give its passphrase as ssh_tunnel.private_key_password`,
    );
  }
  // the parser's message names the format, never the key's text
  throw new ConfigurationError(
    `${what}: ssh_tunnel.private_key is not a private key (${parsed.message}): give the key's text (-----BEGIN OPENSSH PRIVATE KEY----- …), not its path`,
  );
}

function connect(s: SshTunnelSettings): Promise<SshClient> {
  return new Promise((resolve, reject) => {
    const ssh = new ssh2.Client();
    let ready = false;
    ssh.on('ready', () => {
      ready = true;
      resolve(ssh);
    });
    ssh.on('error', (err: Error & { level?: string; code?: string }) => {
      if (!ready) reject(connectError(s, err));
      // after ready a 'close' follows, which drops the connection (see client())
    });
    ssh.connect({
      host: s.host,
      port: s.port,
      username: s.username,
      privateKey: s.privateKey,
      passphrase: s.privateKeyPassword,
      readyTimeout: 20_000,
      // a dead peer (a bastion gone, a NAT that forgot the flow) is noticed within ~45 s, as a lost connection
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
    });
  });
}

function connectError(s: SshTunnelSettings, err: Error & { level?: string; code?: string }): ConfigurationError {
  const what = SshTunnel.describe(s);
  if (err.level === 'client-authentication') {
    return new ConfigurationError(
      `${what} refused the key: check ssh_tunnel.username and ssh_tunnel.private_key (its public key must be in that user's authorized_keys on the SSH server)`,
    );
  }
  if (err.level === 'client-timeout') {
    return new ConfigurationError(
      `${what}: no SSH handshake within 20 s: check ssh_tunnel.host and ssh_tunnel.port, and that a firewall lets it through`,
    );
  }
  return new ConfigurationError(
    `cannot reach ${what} (${err.code ?? err.message}): check ssh_tunnel.host and ssh_tunnel.port, and that the SSH server runs`,
    {
      cause: err,
    },
  );
}

function forward(ssh: SshClient, target: { host: string; port: number }): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    ssh.forwardOut('127.0.0.1', 0, target.host, target.port, (err, channel) => (err ? reject(err) : resolve(channel)));
  });
}
