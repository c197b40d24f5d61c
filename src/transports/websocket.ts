/**
 * graphql-transport-ws (graphql-ws over ws) on the gateway's own port and path, for Apollo Client, urql and Relay.
 * Every operation goes through Yoga's envelop (`yoga.getEnveloped`), so parsing limits, validation rules, plugins
 * and error masking are the ones HTTP requests get; only the way the token arrives differs (connection_init).
 */

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ExecutionArgs, GraphQLError, type GraphQLFormattedError, getOperationAST } from 'graphql';
import type { Context as ConnectionContext, SubscribePayload } from 'graphql-ws';
import { type Extra, useServer } from 'graphql-ws/use/ws';
import { createGraphQLError, type YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Context, GraphQLServerContext, Services } from '../context.ts';
import { findGatewayError, GatewayError, toGraphQLError } from '../errors.ts';
import { publicOrigin } from '../http/forwarded.ts';
import { HostRule, NOT_ALLOWED_HOST_MESSAGE } from '../http/host-rule.ts';
import { headerReader, ownOrigin, requestInfoOf } from '../http/request-info.ts';
import { type OperationSpan, startWebSocketOperationSpan } from '../observability/tracing.ts';
import { parseAuthorization } from '../upstream/credential.ts';
import { limitMessageRate, logSocketErrors, MAX_MESSAGE_BYTES, refuseUpgrade } from './websocket-limits.ts';

export interface WebSocketTransport {
  close(): Promise<void>;
}

type Yoga = YogaServerInstance<GraphQLServerContext, Context>;
type Enveloped = ReturnType<Yoga['getEnveloped']>;
/** An operation that passed onSubscribe: its envelop, and its span when tracing is on. */
type Prepared = { enveloped: Enveloped; span: OperationSpan | undefined };
/** What the transport keeps per socket, next to graphql-ws' socket and upgrade request. */
type SocketState = { authorization: string | null };
type Connection = ConnectionContext<Record<string, unknown>, Extra & Partial<SocketState>>;

const GRAPHQL_PATH = '/graphql';
/**
 * Operations open at once on one socket (issue #11: 10,000 subscriptions on one socket started 10,000 pollers).
 * Beyond it an operation is answered RATE_LIMITED and the socket stays open for the others.
 */
export const MAX_OPERATIONS_PER_SOCKET = 100;
/** How long close() waits for clients to answer the close frame before it drops their sockets. */
const SHUTDOWN_GRACE_MS = 1_000;
/** RFC 6455's "Service Restart": the client may reconnect (graphql-ws retries it). */
const CLOSE_SERVICE_RESTART = 1012;

export function attachWebSocket(server: Server, yoga: Yoga, services: Services): WebSocketTransport {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const hostRule = new HostRule(services.config);
  // Registered before graphql-ws' own listener: a socket over its message rate is closed, and paused, before
  // graphql-ws handles the message that crossed the limit.
  wss.on('connection', limitMessageRate);
  const connections = new Set<Connection>();
  // graphql-ws calls execute/subscribe with the args onSubscribe returned: find that operation's envelop again.
  const preparedByContext = new WeakMap<object, Prepared>();
  const preparedFor = (args: ExecutionArgs): Prepared => {
    const prepared = preparedByContext.get(args.contextValue as object);
    if (!prepared) throw new Error('WebSocket operation without its envelop');
    return prepared;
  };

  const graphqlWs = useServer<Record<string, unknown>, SocketState>(
    {
      isProd: true,
      onConnect(ctx) {
        const { request } = ctx.extra;
        if (!originAllowed(request, services.config)) return false;
        const given = authorizationFrom(ctx.connectionParams);
        const authorization = given === undefined ? (request.headers.authorization ?? null) : given;
        // Checked here, once per socket: a malformed value never reaches an operation (or EPMware), and is not
        // replaced by EPMWARE_TOKEN. Contract: a WebSocket without a token is refused (4403) unless EPMWARE_TOKEN
        // stands in for it.
        const parsed =
          authorization === null ? { kind: 'absent' as const } : parseAuthorization(authorization);
        if (parsed.kind === 'malformed') return refuse(ctx, MALFORMED_TOKEN_REASON);
        if (parsed.kind === 'absent' && !services.config.epmwareToken) return refuse(ctx, NO_TOKEN_REASON);
        // The Host rule (host-rule.ts): EPMWARE_TOKEN stands in only on localhost, an IP or an allowed host.
        if (parsed.kind === 'absent' && !hostRule.lendsServiceToken(hostRule.standing(request.headers)))
          return refuse(ctx, FORBIDDEN_HOST_REASON);
        ctx.extra.authorization = authorization;
        connections.add(ctx);
        return true;
      },
      onClose(ctx) {
        connections.delete(ctx);
      },
      async onSubscribe(ctx, _id, payload) {
        const span = startWebSocketOperationSpan(payload.extensions);
        const prepared = await prepare(ctx, payload, span);
        if (span && Array.isArray(prepared)) span.refused(codeOf(prepared[0]));
        return prepared;
      },
      execute: (args) => {
        const { enveloped, span } = preparedFor(args);
        return span ? span.run(() => enveloped.execute(args)) : enveloped.execute(args);
      },
      subscribe: (args) => {
        const { enveloped, span } = preparedFor(args);
        return span ? span.run(() => enveloped.subscribe(args)) : enveloped.subscribe(args);
      },
      onError: (_ctx, _id, _payload, errors) => errors.map(withoutInternals),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map(withoutInternals) } : undefined,
    },
    wss,
  );
  // After graphql-ws' own listener (see logSocketErrors).
  wss.on('connection', (socket) => logSocketErrors(socket, services.logger));

  /** A subscribe message's operation ready to run, or the errors that answer it instead. */
  async function prepare(
    ctx: Connection,
    payload: SubscribePayload,
    span: OperationSpan | undefined,
  ): Promise<ExecutionArgs | readonly GraphQLError[]> {
    // graphql-ws has already registered this operation in ctx.subscriptions: more than the cap means one too many.
    if (Object.keys(ctx.subscriptions).length > MAX_OPERATIONS_PER_SOCKET) {
      return [tooManyOperations()];
    }
    try {
      // No connectionParams here: they hold the token, and plugins may log the initial context.
      // The same context factory as HTTP (Yoga's `context`), from the upgrade request and connection_init's token.
      const requestInfo = requestInfoOf(
        ctx.extra.request,
        services.config.trustProxy,
        ctx.extra.authorization,
      );
      const enveloped = yoga.getEnveloped({
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params: payload,
        requestId: randomUUID(),
        requestInfo,
      });
      let document: ReturnType<Enveloped['parse']>;
      try {
        document = enveloped.parse(payload.query);
      } catch (error) {
        return [parseError(error)];
      }
      const errors = enveloped.validate(enveloped.schema, document);
      if (errors.length > 0) return errors;
      if (span) {
        // Answered here rather than by graphql-ws, so the span of such an operation ends too.
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return [createGraphQLError('Unable to identify operation')];
        span.operation(operation.operation, operation.name?.value);
      }
      const contextValue = await enveloped.contextFactory();
      preparedByContext.set(contextValue, { enveloped, span });
      return {
        schema: enveloped.schema,
        document,
        contextValue,
        variableValues: payload.variables,
        operationName: payload.operationName,
      };
    } catch (error) {
      // Thrown here, graphql-ws would close the whole socket: answer this one operation instead.
      const known = findGatewayError(error);
      span?.refused(known?.code ?? 'INTERNAL_SERVER_ERROR');
      return [known ? toGraphQLError(known) : createGraphQLError('Unexpected error.')];
    }
  }

  const { maxWebSockets } = services.config;
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(request) !== GRAPHQL_PATH) {
      refuseUpgrade(socket, 404);
    } else if (hostRule.standing(request.headers) === 'refused') {
      refuseUpgrade(socket, 403, { code: 'FORBIDDEN', message: NOT_ALLOWED_HOST_MESSAGE });
    } else if (wss.clients.size >= maxWebSockets) {
      // Every WebSocket is in wss.clients from its handshake on (handleUpgrade completes synchronously).
      refuseUpgrade(socket, 503, {
        code: 'RATE_LIMITED',
        message: `This gateway instance has its ${maxWebSockets} WebSockets open (MAX_WEBSOCKETS): retry in a moment`,
      });
    } else {
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    }
  };
  server.on('upgrade', onUpgrade);

  return {
    async close() {
      server.off('upgrade', onUpgrade);
      // 1012 (service restart) with no `complete` before it: a graphql-ws client with retries reconnects (to another
      // instance, behind a load balancer) and resubscribes, getting its task's current status at once; `complete`
      // would have told it the task was over. graphql-ws returns each operation's stream as its socket closes.
      for (const ws of wss.clients) ws.close(CLOSE_SERVICE_RESTART, 'Service restart: reconnect');
      await until(() => wss.clients.size === 0);
      for (const ws of wss.clients) ws.terminate();
      await graphqlWs.dispose();
    },
  };
}

/**
 * `authorization` from the connection_init payload, its key in any case (`Authorization` as a header is spelled):
 * undefined when the payload has none; a value that is not a string is passed on as text to be refused as malformed.
 */
function authorizationFrom(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (!params) return undefined;
  for (const [key, value] of Object.entries(params)) {
    if (key.toLowerCase() === 'authorization') return typeof value === 'string' ? value : '';
  }
  return undefined;
}

/** The close reasons name the fix (a close reason is at most 123 bytes). */
const MALFORMED_TOKEN_REASON = "Malformed token: send connectionParams: { authorization: 'Token <t>' }";
const NO_TOKEN_REASON = "No token: send connectionParams: { authorization: 'Token <t>' }";
const FORBIDDEN_HOST_REASON = 'Forbidden: no token on a host not in ALLOWED_HOSTS; send a token of your own';

/** Closes with 4403 and a reason saying what to send; graphql-ws' own close that follows is then a no-op. */
function refuse(ctx: Connection, reason: string): false {
  ctx.extra.socket.close(4403, reason);
  return false;
}

/**
 * Browsers do not apply CORS to WebSockets, so a page on any site could open one here and ride EPMWARE_TOKEN:
 * accept only this gateway's own origin and CORS_ORIGINS. Non-browser clients send no Origin and are accepted.
 */
function originAllowed(
  request: IncomingMessage,
  config: { corsOrigins: readonly string[]; trustProxy: boolean },
): boolean {
  const origin = request.headers.origin;
  if (!origin) return true;
  if (config.corsOrigins.includes(origin)) return true;
  // Behind a proxy that rewrites Host, the page's origin is the one the proxy says the client used.
  if (config.trustProxy && origin === originOf(request, true)) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** As HTTP requests get it: the proxy's Forwarded / X-Forwarded-* headers count only with TRUST_PROXY. */
function originOf(request: IncomingMessage, trustProxy: boolean): string {
  return publicOrigin(ownOrigin(request), headerReader(request), trustProxy);
}

function pathOf(request: IncomingMessage): string {
  return (request.url ?? '/').split('?')[0] ?? '/';
}

/** The code of a rule's error, which carries none (HTTP answers it with this one). */
const GRAPHQL_VALIDATION_FAILED = 'GRAPHQL_VALIDATION_FAILED';

/** The contract code of the first error answering a refused operation (for its span's `error.type`). */
function codeOf(error: GraphQLError | undefined): string {
  const code = error?.extensions.code;
  return typeof code === 'string' ? code : GRAPHQL_VALIDATION_FAILED;
}

function tooManyOperations(): GraphQLError {
  return toGraphQLError(
    new GatewayError(
      'RATE_LIMITED',
      `At most ${MAX_OPERATIONS_PER_SOCKET} operations may be open at once on one WebSocket: complete one first`,
    ),
  );
}

/** A document that does not parse (or is over a parser limit), with the code HTTP requests get for it. */
function parseError(error: unknown): GraphQLError {
  const graphqlError = error instanceof GraphQLError ? error : undefined;
  if (!graphqlError) {
    const known = findGatewayError(error);
    return known ? toGraphQLError(known) : createGraphQLError('Unexpected error.');
  }
  const code = graphqlError.extensions.code ?? 'GRAPHQL_PARSE_FAILED';
  return createGraphQLError(graphqlError.message, {
    nodes: graphqlError.nodes,
    source: graphqlError.source,
    positions: graphqlError.positions,
    extensions: { ...graphqlError.extensions, code },
  });
}

/** As Yoga's HTTP responses do: `extensions.http` (status hints) and `unexpected` are not for clients. */
function withoutInternals(error: GraphQLError): GraphQLFormattedError {
  const formatted = error.toJSON();
  if (!formatted.extensions) return formatted;
  const { http: _http, unexpected: _unexpected, ...extensions } = formatted.extensions;
  return Object.keys(extensions).length > 0
    ? { ...formatted, extensions }
    : { ...formatted, extensions: undefined };
}

async function until(done: () => boolean, timeoutMs = SHUTDOWN_GRACE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}
