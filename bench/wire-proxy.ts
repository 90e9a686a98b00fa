/**
 * Bytes on the wire, counted by a loopback TCP proxy that every measured client connects through
 * (MongoDB and Redis alike). The proxy runs in a child process of its own, so the CPU it spends
 * forwarding is never billed to the client under test. It counts TCP payload bytes (the wire
 * protocol's messages, not TCP/IP headers) per listener and direction: `up` from the clients to
 * the server, `down` back. Sockets have Nagle's algorithm off on both sides, as the clients have.
 *
 * Parent -> proxy: { kind: 'listen', id, host, port } (answered with 'listening' and the port);
 * { kind: 'read', reqId } (answered with 'counts').
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { proxiedUri, targetOf } from '../chaos/proxy';

/** Bytes through one listener since it started. */
export interface WireCount {
  up: number;
  down: number;
  connections: number;
}

type ToProxy =
  { kind: 'listen'; id: string; host: string; port: number } | { kind: 'read'; reqId: number };
type FromProxy =
  | { kind: 'listening'; id: string; port: number }
  | { kind: 'counts'; reqId: number; counts: Record<string, WireCount> }
  | { kind: 'error'; message: string };

const START_TIMEOUT_MS = 10_000;

/** Parent side: the proxy process, its listeners and their counters. */
export class WireProxy {
  private readonly waiting = new Map<string, (msg: FromProxy) => void>();
  private readonly ports = new Map<string, Promise<number>>();
  private reqId = 0;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (msg: FromProxy) => {
      const key =
        msg.kind === 'counts'
          ? `read/${msg.reqId}`
          : msg.kind === 'listening'
            ? `listen/${msg.id}`
            : '';
      const resolve = this.waiting.get(key);
      this.waiting.delete(key);
      resolve?.(msg);
    });
  }

  /** Forks the proxy process (dist/bench/wire-proxy.js). */
  static start(): WireProxy {
    const child = fork(__filename, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const proxy = new WireProxy(child);
    process.on('exit', () => child.kill('SIGKILL'));
    return proxy;
  }

  private ask(key: string, msg: ToProxy): Promise<FromProxy> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`wire proxy: no answer to ${msg.kind}`));
      }, START_TIMEOUT_MS);
      this.waiting.set(key, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.send(msg);
    });
  }

  /** The local port forwarding to host:port, counted under `id` (one listener per id). */
  port(id: string, host: string, port: number): Promise<number> {
    let p = this.ports.get(id);
    if (!p) {
      p = this.ask(`listen/${id}`, { kind: 'listen', id, host, port }).then((m) =>
        m.kind === 'listening' ? m.port : Promise.reject(new Error('wire proxy: no port')),
      );
      this.ports.set(id, p);
    }
    return p;
  }

  /** `uri` (a single-host mongodb:// URI) reached through the proxy, credentials kept. */
  async mongoUri(id: string, uri: string): Promise<string> {
    const target = targetOf(uri);
    return proxiedUri(uri, await this.port(id, target.host, target.port));
  }

  /** Every listener's counters now. */
  async read(): Promise<Record<string, WireCount>> {
    const reqId = ++this.reqId;
    const msg = await this.ask(`read/${reqId}`, { kind: 'read', reqId });
    return msg.kind === 'counts' ? msg.counts : {};
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }
}

/** Bytes of listener `id` between two readings. */
export function bytesBetween(
  before: Record<string, WireCount>,
  after: Record<string, WireCount>,
  id: string,
): { up: number; down: number } {
  return {
    up: (after[id]?.up ?? 0) - (before[id]?.up ?? 0),
    down: (after[id]?.down ?? 0) - (before[id]?.down ?? 0),
  };
}

/** Child side: the listeners and their counters. */
function serve(): void {
  const counts: Record<string, WireCount> = {};
  const send = (msg: FromProxy): void => {
    if (process.connected) process.send?.(msg);
  };
  const listen = (id: string, host: string, port: number): void => {
    const count: WireCount = (counts[id] = { up: 0, down: 0, connections: 0 });
    const server = net.createServer((client) => {
      count.connections += 1;
      client.setNoDelay(true);
      const upstream = net.connect({ host, port, noDelay: true });
      client.on('data', (b: Buffer) => (count.up += b.length));
      upstream.on('data', (b: Buffer) => (count.down += b.length));
      client.pipe(upstream);
      upstream.pipe(client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    server.on('error', (err) => send({ kind: 'error', message: String(err) }));
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      send({
        kind: 'listening',
        id,
        port: typeof address === 'object' && address ? address.port : 0,
      });
    });
  };
  process.on('message', (msg: ToProxy) => {
    if (msg.kind === 'listen') listen(msg.id, msg.host, msg.port);
    else if (msg.kind === 'read') send({ kind: 'counts', reqId: msg.reqId, counts });
  });
  // The parent is gone: nothing left to count for.
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) serve();
