import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface OtlpSink {
  url: string;
  /** Parsed JSON bodies received, by path (`/v1/traces`, `/v1/metrics`). */
  received: Map<string, unknown[]>;
  close(): Promise<void>;
}

/** An OTLP/HTTP JSON receiver on loopback that records what it is sent. */
export async function startOtlpSink(): Promise<OtlpSink> {
  const received = new Map<string, unknown[]>();
  const server = createServer((request, response) => {
    readBody(request).then(
      (body) => {
        const list = received.get(request.url ?? '') ?? [];
        list.push(JSON.parse(body));
        received.set(request.url ?? '', list);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      },
      () => response.writeHead(400).end(),
    );
  });
  return { url: await listen(server), received, close: () => closeServer(server) };
}

/** A server that accepts requests and never answers them: an exporter's worst case. */
export async function startBlackhole(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(() => {});
  return { url: await listen(server), close: () => closeServer(server) };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
