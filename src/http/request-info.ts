/**
 * What a context needs to know about the request it serves, read once at the entry (an HTTP request, a WebSocket
 * upgrade) and handed to `createContext` whatever the transport: the one input of the one context factory.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { clientAddress, type HeaderReader, publicOrigin } from './forwarded.ts';

export interface RequestInfo {
  /** The Authorization value the client sent (a WebSocket's comes from connection_init); null when none. */
  authorization: string | null;
  /** This gateway's origin as the client reached it, for links such as Task.downloadUrl. */
  origin: string;
  /** The client's address: its fair share of EPMWARE_TOKEN's budget. Never logged. */
  clientAddress: string;
}

/** A Node request's headers as the forwarded-header readers take them. */
export function headerReader(req: IncomingMessage): HeaderReader {
  return {
    get(name: string): string | null {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : (value ?? null);
    },
  };
}

/** The request's own origin: its Host, on http or https as its socket is. */
export function ownOrigin(req: IncomingMessage): string {
  const secure = (req.socket as TLSSocket).encrypted === true;
  return `${secure ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`;
}

export function requestInfoOf(
  req: IncomingMessage,
  trustProxy: boolean,
  authorization: string | null = req.headers.authorization ?? null,
): RequestInfo {
  const headers = headerReader(req);
  let origin: string;
  try {
    origin = publicOrigin(ownOrigin(req), headers, trustProxy);
  } catch {
    // A Host header that is no host: links then say localhost, as nothing better is known.
    origin = 'http://localhost';
  }
  return {
    authorization,
    origin,
    clientAddress: clientAddress(req.socket.remoteAddress, headers, trustProxy),
  };
}
