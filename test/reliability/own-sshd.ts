import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';

/** Why an OpenSSH server of a test's own cannot run here, or undefined. */
export const sshdSkipReason: string | undefined = !existsSync(SSHD)
  ? 'no /usr/sbin/sshd (apt-get install openssh-server)'
  : process.getuid?.() !== 0
    ? 'the test sshd logs in as root: run the tests as root'
    : undefined;

/**
 * An OpenSSH server of a test file's own (Debian's openssh-server): its own sshd_config, a generated host
 * key and an authorized key for root, listening on 127.0.0.1 only. `key` is the client's private key text
 * (what ssh_tunnel.private_key takes); `otherKey` one that is not authorized.
 */
export interface OwnSshd {
  readonly port: number;
  readonly key: string;
  readonly otherKey: string;
  /** a key with a passphrase (`passphrase`), authorized too */
  readonly encryptedKey: string;
  readonly passphrase: string;
  /** kills the server and every session it forked (their forwarded connections die with them) */
  kill(): void;
  start(): Promise<void>;
  /** true when the peer of `socket` (a connection to a server of the test's) is a process of this sshd */
  owns(socket: Socket): boolean;
  destroy(): void;
}

export async function startOwnSshd(): Promise<OwnSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'tap-sshd-'));
  const keygen = (file: string, passphrase = ''): string => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'tap test', '-f', join(dir, file)]);
    return readFileSync(join(dir, file), 'utf8');
  };
  keygen('host_ed25519');
  const key = keygen('client');
  const otherKey = keygen('other');
  const passphrase = 'correct horse';
  const encryptedKey = keygen('encrypted', passphrase);
  writeFileSync(join(dir, 'authorized_keys'), ['client.pub', 'encrypted.pub'].map((f) => readFileSync(join(dir, f), 'utf8')).join(''));
  mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation directory
  let child: ChildProcess | undefined;
  let port = 0;
  const launch = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      port ||= 20000 + Math.floor(Math.random() * 12000);
      writeFileSync(
        join(dir, 'sshd_config'),
        [
          `ListenAddress 127.0.0.1`,
          `HostKey ${join(dir, 'host_ed25519')}`,
          `PidFile ${join(dir, 'sshd.pid')}`,
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          `PermitRootLogin prohibit-password`,
          `PasswordAuthentication no`,
          `KbdInteractiveAuthentication no`,
          `UsePAM no`,
          `StrictModes no`,
          `AllowTcpForwarding yes`,
          `LogLevel VERBOSE`,
          '',
        ].join('\n'),
      );
      const c = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config'), '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      c.stderr!.on('data', (b: Buffer) => (log += b.toString()));
      const up = await listening(port, c);
      if (up) {
        child = c;
        return;
      }
      if (attempt < 4 && /Address already in use|Bind to port/i.test(log)) {
        port = 0;
        continue;
      }
      throw new Error(`sshd did not start: ${log}`);
    }
  };
  await launch();
  const kill = (): void => {
    const pid = child?.pid;
    if (pid === undefined) return;
    // the sessions are sshd processes forked by this one: kill them by their ids, then the server
    for (const session of childrenOf(pid)) {
      for (const grandchild of childrenOf(session)) safeKill(grandchild);
      safeKill(session);
    }
    safeKill(pid);
    child = undefined;
  };
  return {
    get port() {
      return port;
    },
    key,
    otherKey,
    encryptedKey,
    passphrase,
    kill,
    start: launch,
    owns: (socket) => child?.pid !== undefined && ownsPeer(child.pid, socket.remotePort!),
    destroy() {
      kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves true once `port` accepts connections, false if `child` exits first. */
async function listening(port: number, child: ChildProcess): Promise<boolean> {
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let i = 0; i < 100 && !exited; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // the fields after the command's closing parenthesis: state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      /* the process ended meanwhile */
    }
  }
  return out;
}

/** Whether a process under `root` holds the TCP socket whose local port on 127.0.0.1 is `port`. */
function ownsPeer(root: number, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === `0100007F:${hex}`) inodes.add(f[9]!);
  }
  const pids = [root];
  for (let i = 0; i < pids.length; i++) pids.push(...childrenOf(pids[i]!));
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return true;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return false;
}

function safeKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}

/**
 * A TCP relay in front of the SSH server whose connections a test can cut (`cut()`): the SSH connection
 * the tap holds dies as a dropped network path would kill it, and the next one goes through again.
 */
export interface CuttableRelay {
  readonly port: number;
  /** connections relayed so far */
  readonly accepted: number;
  cut(): void;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number, admit: (client: Socket) => boolean = () => true): Promise<CuttableRelay> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (!admit(client)) return void client.destroy();
    accepted++;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    get accepted() {
      return accepted;
    },
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
