/**
 * A TCP proxy on loopback between worker processes and MongoDB that the chaos controller can
 * sever: every open connection is destroyed and new ones are reset until it is restored. The
 * server behind it keeps running (and keeps its data); only the workers' network breaks.
 *
 * It can also `stall` (a partition that heals): nothing is forwarded and new connections wait,
 * but no connection is closed; on restore every byte held back is delivered, so operations sent
 * during the stall complete late instead of failing.
 *
 * And it can be slow: with `latencyMs` every chunk is delivered that much later, in each
 * direction (a round trip then takes twice as long more), in order, without limiting throughput.
 */
import net from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

/** Where the proxy forwards to. */
export interface ProxyTarget {
  host: string;
  port: number;
  /**
   * The URI the target was read from: `uri()` keeps its credentials, database and options (a
   * server that requires authentication, such as DocumentDB, refuses a bare URI).
   */
  source?: string;
}

/** One proxied connection: the worker's socket and ours to the server. */
interface Pipe {
  client: net.Socket;
  upstream: net.Socket;
  /** With latency: the delaying streams, client to server and back. */
  delays?: [Delay, Delay];
}

/** A severable loopback TCP proxy. */
export class ChaosProxy {
  private readonly pipes = new Set<Pipe>();
  private refusing = false;
  private stalled = false;
  /** Connections accepted during a stall: connected upstream on restore. */
  private waiting: net.Socket[] = [];
  private restoreTimer?: NodeJS.Timeout;
  /** Connections accepted and forwarded since the start. */
  connections = 0;
  /** Connections reset because the proxy was severed. */
  refused = 0;
  /** How many times `sever` cut the link. */
  cuts = 0;
  /** Added to each direction of every connection opened from now on (ms). */
  latencyMs = 0;

  private constructor(
    private readonly server: net.Server,
    readonly target: ProxyTarget,
  ) {}

  /** Starts a proxy on 127.0.0.1 (a free port unless `port` is given) forwarding to `target`. */
  static async start(target: ProxyTarget, port = 0): Promise<ChaosProxy> {
    const server = net.createServer();
    const proxy = new ChaosProxy(server, target);
    server.on('connection', (socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy not listening');
    return address.port;
  }

  /**
   * A `mongodb://` URI reaching the target through the proxy (direct connection), with the
   * credentials, database and options of the target's source URI.
   */
  uri(): string {
    return proxiedUri(this.target.source, this.port);
  }

  /** True while the link is cut or stalled. */
  get severed(): boolean {
    return this.refusing || this.stalled;
  }

  /** Open proxied connections. */
  get open(): number {
    return this.pipes.size;
  }

  /**
   * Cuts the link: destroys every open connection (both ends) and resets new ones until
   * `restore()`, or for `refuseMs` when given.
   */
  sever(refuseMs?: number): void {
    clearTimeout(this.restoreTimer);
    if (!this.refusing) this.cuts += 1;
    this.refusing = true;
    for (const pipe of this.pipes) destroyPipe(pipe);
    this.pipes.clear();
    if (refuseMs !== undefined) this.restoreTimer = setTimeout(() => this.restore(), refuseMs);
  }

  /**
   * Stalls the link: nothing is forwarded either way and new connections wait, until `restore()`
   * (or for `stallMs`). No connection is closed.
   */
  stall(stallMs?: number): void {
    clearTimeout(this.restoreTimer);
    this.stalled = true;
    for (const pipe of this.pipes) {
      pipe.client.unpipe();
      pipe.upstream.unpipe();
      for (const d of pipe.delays ?? []) d.unpipe();
      pipe.client.pause();
      pipe.upstream.pause();
    }
    if (stallMs !== undefined) this.restoreTimer = setTimeout(() => this.restore(), stallMs);
  }

  /** Accepts and forwards again. */
  restore(): void {
    clearTimeout(this.restoreTimer);
    this.restoreTimer = undefined;
    this.refusing = false;
    if (!this.stalled) return;
    this.stalled = false;
    for (const pipe of this.pipes) link(pipe.client, pipe.upstream, pipe.delays);
    for (const client of this.waiting.splice(0)) if (!client.destroyed) this.forward(client);
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    clearTimeout(this.restoreTimer);
    for (const pipe of this.pipes) destroyPipe(pipe);
    this.pipes.clear();
    for (const client of this.waiting.splice(0)) client.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.refusing) {
      this.refused += 1;
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    if (this.stalled) {
      client.pause();
      client.on('error', () => undefined);
      this.waiting.push(client);
      return;
    }
    this.forward(client);
  }

  private forward(client: net.Socket): void {
    this.connections += 1;
    const upstream = net.connect(this.target.port, this.target.host);
    const pipe: Pipe = { client, upstream };
    this.pipes.add(pipe);
    const end = () => {
      this.pipes.delete(pipe);
      destroyPipe(pipe);
    };
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      socket.on('error', end);
      socket.on('close', end);
    }
    if (this.latencyMs > 0) pipe.delays = [new Delay(this.latencyMs), new Delay(this.latencyMs)];
    link(client, upstream, pipe.delays);
  }
}

/** Passes every chunk on `ms` later, in order. */
class Delay extends Transform {
  constructor(private readonly ms: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // Timers of equal delay fire in the order they were set: the stream keeps its order.
    setTimeout(() => this.push(chunk), this.ms);
    done();
  }

  override _flush(done: TransformCallback): void {
    setTimeout(() => done(), this.ms);
  }
}

function link(client: net.Socket, upstream: net.Socket, delays?: [Delay, Delay]): void {
  if (delays) {
    client.pipe(delays[0]).pipe(upstream);
    upstream.pipe(delays[1]).pipe(client);
  } else {
    client.pipe(upstream);
    upstream.pipe(client);
  }
  client.resume();
  upstream.resume();
}

function destroyPipe(pipe: Pipe): void {
  // A reset, not a polite FIN: the driver sees what a dropped network looks like.
  if (!pipe.client.destroyed) pipe.client.resetAndDestroy();
  if (!pipe.upstream.destroyed) pipe.upstream.destroy();
}

const SINGLE_HOST_URI = /^mongodb:\/\/([^@/]*@)?([^:/,?]+)(?::(\d+))?([/?].*)?$/;

/** Host and port of a single-host `mongodb://` URI (the proxy forwards to one server). */
export function targetOf(uri: string): ProxyTarget {
  const match = SINGLE_HOST_URI.exec(uri);
  if (!match) throw new Error(`chaos: cannot proxy ${uri}: use a single-host mongodb:// URI`);
  return { host: match[2], port: Number(match[3] ?? 27017), source: uri };
}

/**
 * `source` with its host replaced by the proxy's, keeping user info, path and query; the
 * connection is forced direct (the proxy is one server, whatever the source's topology says).
 */
export function proxiedUri(source: string | undefined, port: number): string {
  const match = source === undefined ? null : SINGLE_HOST_URI.exec(source);
  const userInfo = match?.[1] ?? '';
  const rest = match?.[4] ?? '/';
  const queryAt = rest.indexOf('?');
  const path = queryAt < 0 ? rest : rest.slice(0, queryAt);
  const params = new URLSearchParams(queryAt < 0 ? '' : rest.slice(queryAt + 1));
  params.set('directConnection', 'true');
  // A replica set name would make the driver check the proxied server's set membership.
  params.delete('replicaSet');
  return `mongodb://${userInfo}127.0.0.1:${port}${path || '/'}?${params.toString()}`;
}
