import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';

/** An HTTP proxy in front of a local server that answers chosen requests with an error, or late. */
export interface FaultyProxy {
  readonly endpoint: string;
  /** the requests it refused, as `METHOD path?query` */
  readonly refused: string[];
  /** the requests it held back: when each arrived and when its answer was sent (epoch ms) */
  readonly delayed: { request: string; arrived: number; answered: number }[];
  stop(): Promise<void>;
}

export interface Faults {
  /** true: the request is answered with 503 (S3's SlowDown) and never reaches the server */
  fail?: (req: IncomingMessage) => boolean;
  /** ms to wait before the server's answer is passed on */
  delayMs?: (req: IncomingMessage) => number;
}

export async function startFaultyProxy(target: string, faults: Faults): Promise<FaultyProxy> {
  const to = new URL(target);
  const refused: string[] = [];
  const delayed: FaultyProxy['delayed'] = [];
  const server: Server = createServer((req, res) => {
    const arrived = Date.now();
    if (faults.fail?.(req)) {
      refused.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected by the test</Message></Error>');
      return;
    }
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const delay = faults.delayMs?.(req) ?? 0;
      setTimeout(() => {
        if (delay > 0) delayed.push({ request: `${req.method} ${req.url}`, arrived, answered: Date.now() });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      }, delay);
    });
    up.on('error', (err) => res.destroy(err));
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    refused,
    delayed,
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
