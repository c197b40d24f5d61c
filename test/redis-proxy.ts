/**
 * A TCP proxy in front of a Redis that reads what its clients send: every command's name, in order. Tests put it
 * between a gateway and a redis-server to assert on what Redis was asked (as they read the simulator's request log
 * for EPMware), e.g. that no command went out while Redis was down. Commands are RESP arrays of bulk strings, the
 * only form ioredis sends.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class RedisCommandProxy {
  /** Lower-case command names, in the order clients sent them (across connections). */
  readonly commands: string[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
  }

  /** A proxy on a free loopback port forwarding to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<RedisCommandProxy> {
    const server = createServer();
    const proxy = new RedisCommandProxy(server);
    server.on('connection', (client) => proxy.#relay(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** The URL a gateway uses to reach Redis through the proxy. */
  url(database = 0): string {
    return `redis://127.0.0.1:${this.port}/${database}`;
  }

  /** How many commands were sent so far, but those named in `except` (e.g. the health checks' 'ping'). */
  count(except: string[] = []): number {
    return this.commands.filter((name) => !except.includes(name)).length;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #relay(client: Socket, targetPort: number): void {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let pending: Buffer = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const { names, rest } = parseCommands(pending);
      this.commands.push(...names);
      pending = rest;
      upstream.write(chunk);
    });
    upstream.pipe(client);
  }
}

/** The names of the complete commands at the start of `buffer`, and what is left (a command cut in two). */
function parseCommands(buffer: Buffer): { names: string[]; rest: Buffer } {
  const names: string[] = [];
  let offset = 0;
  for (;;) {
    const parsed = parseCommand(buffer, offset);
    if (!parsed) break;
    names.push(parsed.name);
    offset = parsed.end;
  }
  return { names, rest: buffer.subarray(offset) };
}

/** `*<n>\r\n` then n times `$<len>\r\n<bytes>\r\n`; undefined until all of it has arrived. */
function parseCommand(buffer: Buffer, start: number): { name: string; end: number } | undefined {
  if (buffer[start] !== 0x2a) return undefined;
  const header = buffer.indexOf('\r\n', start);
  if (header < 0) return undefined;
  const count = Number(buffer.toString('latin1', start + 1, header));
  let cursor = header + 2;
  let name = '';
  for (let i = 0; i < count; i++) {
    if (buffer[cursor] !== 0x24) return undefined;
    const lineEnd = buffer.indexOf('\r\n', cursor);
    if (lineEnd < 0) return undefined;
    const length = Number(buffer.toString('latin1', cursor + 1, lineEnd));
    const data = lineEnd + 2;
    if (data + length + 2 > buffer.length) return undefined;
    if (i === 0) name = buffer.toString('latin1', data, data + length).toLowerCase();
    cursor = data + length + 2;
  }
  return { name, end: cursor };
}
