/**
 * An in-process OTLP/HTTP trace receiver for the tracing tests: it keeps every export it is sent (raw bytes and,
 * for http/json, the decoded spans) and answers as a collector does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status?: { code?: number; message?: string };
}

export interface OtlpReceiver {
  /** http://127.0.0.1:PORT, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter adds /v1/traces). */
  url: string;
  exports: Array<{ path: string; contentType: string; body: Buffer }>;
  /** Every span of every http/json export so far. */
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

interface JsonAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}

interface JsonSpan extends Omit<ReceivedSpan, 'attributes'> {
  attributes?: JsonAttribute[];
}

interface JsonExport {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: JsonSpan[] }> }>;
}

function attributeValue(value: JsonAttribute['value']): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue ?? '';
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const exports: OtlpReceiver['exports'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const contentType = req.headers['content-type'] ?? '';
      exports.push({ path: req.url ?? '', contentType, body: Buffer.concat(chunks) });
      if (contentType.includes('json')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    spans() {
      return exports
        .filter((received) => received.contentType.includes('json'))
        .flatMap((received) => {
          const parsed = JSON.parse(received.body.toString('utf8')) as JsonExport;
          return (parsed.resourceSpans ?? []).flatMap((resource) =>
            (resource.scopeSpans ?? []).flatMap((scope) => scope.spans ?? []),
          );
        })
        .map((span) => ({
          ...span,
          attributes: Object.fromEntries(
            (span.attributes ?? []).map((attribute) => [attribute.key, attributeValue(attribute.value)]),
          ),
        }));
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
