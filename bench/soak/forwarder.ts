/**
 * A TCP forwarder in front of the simulator, one per gateway instance, so the simulator's log can say which
 * instance sent a request: every instance reaches the same address, and no header of an upstream call names the
 * instance. Each connection the forwarder opens to the simulator has a local port the simulator records as
 * `remotePort`; the forwarder remembers which instance owned that port, and since when (ports are reused).
 *
 * It forwards bytes only. A connection the simulator resets (a 'connection resets' fault) is reset on the gateway's
 * side too, and one it ends after a cut-off body is ended, so the gateway sees the same faults as without it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

interface PortOwner {
  instance: number;
  since: number;
}

export class PortLedger {
  readonly #owners = new Map<number, PortOwner[]>();

  own(port: number, instance: number): void {
    const list = this.#owners.get(port) ?? [];
    list.push({ instance, since: Date.now() });
    this.#owners.set(port, list);
  }

  /** The instance whose connection used `port` at `at` (Date.now()), or -1 when none is known. */
  instanceAt(port: number, at: number): number {
    let found = -1;
    for (const owner of this.#owners.get(port) ?? []) if (owner.since <= at) found = owner.instance;
    return found;
  }
}

export interface Forwarder {
  /** Where the instance is to reach EPMware. */
  url: string;
  close(): Promise<void>;
}

/** Pipes both ways; when one side fails the other is reset, when one ends the other is ended. */
function join(gatewaySide: Socket, simulatorSide: Socket): void {
  gatewaySide.pipe(simulatorSide);
  simulatorSide.pipe(gatewaySide);
  const resetBoth = () => {
    if (!gatewaySide.destroyed) gatewaySide.resetAndDestroy();
    if (!simulatorSide.destroyed) simulatorSide.resetAndDestroy();
  };
  gatewaySide.on('error', resetBoth);
  simulatorSide.on('error', resetBoth);
  // A socket the simulator destroyed (a reset fault) closes without an error on this side: pass the reset on.
  simulatorSide.on('close', (hadError) => {
    if (hadError || !simulatorSide.readableEnded) resetBoth();
    else gatewaySide.end();
  });
  gatewaySide.on('close', () => simulatorSide.destroy());
}

export async function startForwarder(
  simulatorUrl: string,
  instance: number,
  ledger: PortLedger,
): Promise<Forwarder> {
  const target = new URL(simulatorUrl);
  const sockets = new Set<Socket>();
  const server: Server = createServer((gatewaySide) => {
    const simulatorSide = connect(Number(target.port), target.hostname, () => {
      if (simulatorSide.localPort) ledger.own(simulatorSide.localPort, instance);
      join(gatewaySide, simulatorSide);
    });
    simulatorSide.on('error', () => gatewaySide.destroy());
    gatewaySide.on('error', () => simulatorSide.destroy());
    for (const socket of [gatewaySide, simulatorSide]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
