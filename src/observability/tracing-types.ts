/**
 * What tracing.ts (the facade the rest of the code calls) and tracing-runtime.ts (the OpenTelemetry side, loaded only
 * when tracing is on) share: the shapes they pass each other, and how an upstream call's path becomes a template.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plugin } from 'graphql-yoga';

/** Whatever a GraphQL operation's context is: the spans only key on its identity. */
export type GraphQLContext = object;

/** What the upstream client tells about a call. Only its templates reach a span: never ids, names or tokens. */
export interface TracedCall {
  method: string;
  /** The endpoint template, e.g. `deployment/get_execution_details`. */
  endpoint: string;
  /** The path below /service/api as sent, ids included (`/task/get_status/1234`): see upstreamPathTemplate. */
  path: string;
}

/** The name of the one id a path carries after its endpoint, by endpoint; any other is `{id}`. */
const PATH_PARAMETERS: Readonly<Record<string, string>> = {
  'task/get_status': 'taskId',
  'task/get_log_file': 'taskId',
  'export/download_file': 'taskId',
  'security/users/sso/update': 'userName',
  'security/users/sso/enable': 'userName',
  'security/users/sso/disable': 'userName',
};

/**
 * A call's path as a template, `/task/get_status/{taskId}`, `/security/users/sso/enable/{userName}`: what follows
 * the endpoint is replaced whatever it is, so a span never carries an id or a user's e-mail, even for an endpoint
 * added later without an entry above.
 */
export function upstreamPathTemplate(call: Pick<TracedCall, 'endpoint' | 'path'>): string {
  const endpointPath = `/${call.endpoint}`;
  if (call.path === endpointPath) return endpointPath;
  return `${endpointPath}/{${PATH_PARAMETERS[call.endpoint] ?? 'id'}}`;
}

/** The SERVER span of one WebSocket operation (a `subscribe` message), from the message until its first result. */
export interface OperationSpan {
  /** The operation the document names: the span becomes `query Dashboard`, with graphql.operation.* attributes. */
  operation(type: string, name: string | undefined): void;
  /**
   * Runs the operation's execute or subscribe with this span as the parent of what it starts (upstream calls), and
   * ends the span once that returns its result (a subscription: its event stream, as an SSE request's span ends).
   */
  run<T>(work: () => T): T;
  /** Ends the span of an operation refused before it ran, with the refusal's contract code as `error.type`. */
  refused(code: string): void;
}

/** The loaded side (tracing-runtime.ts). */
export interface TracingRuntime {
  upstreamCall<T extends { statusCode: number }>(call: TracedCall, run: () => Promise<T>): Promise<T>;
  route(route: string, req: IncomingMessage, res: ServerResponse, handle: () => Promise<void>): Promise<void>;
  webSocketOperation(extensions: unknown): OperationSpan;
  attemptStarted(retries: number): void;
  requestSent(): void;
  plugin: Plugin<GraphQLContext>;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}
