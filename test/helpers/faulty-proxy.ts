import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';

/** An HTTP proxy in front of a local server that answers chosen requests with an error instead of forwarding them. */
export interface FaultyProxy {
  readonly endpoint: string;
  /** the requests it refused, as `METHOD path?query` */
  readonly refused: string[];
  stop(): Promise<void>;
}

/** `fail(req)` true: the request is answered with `status` (S3's SlowDown body) and never reaches `target`. */
export async function startFaultyProxy(target: string, fail: (req: IncomingMessage) => boolean, status = 503): Promise<FaultyProxy> {
  const to = new URL(target);
  const refused: string[] = [];
  const server: Server = createServer((req, res) => {
    if (fail(req)) {
      refused.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected by the test</Message></Error>');
      return;
    }
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
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
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
