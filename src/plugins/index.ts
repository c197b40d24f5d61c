/**
 * The Yoga/envelop plugins every GraphQL request goes through, in this order: request-level refusals first (CSRF,
 * body size, uploads) so a refused request is never read; then document limits (parse and validation, before any
 * upstream call); then observation (metrics, logs); then what shapes the answer (the contract's error codes,
 * Cache-Control, @defer/@stream with masking, spans); and last the executor swap for plain queries (graphql-jit).
 * CORS is Yoga's `cors` option (see cors.ts), set in gateway.ts.
 */
import type { Plugin } from 'graphql-yoga';
import type { Context, Services } from '../context.ts';
import { maskGatewayError } from '../errors.ts';
import { tracingPlugins } from '../observability/tracing.ts';
import { jsonBodyLimitPlugin } from './body-limit.ts';
import { contentTypeHintPlugin } from './content-type.ts';
import { contractCodesPlugin } from './contract-codes.ts';
import { csrfPreventionPlugin } from './csrf.ts';
import { deferStreamPlugins } from './defer-stream.ts';
import { introspectionPlugins } from './introspection.ts';
import { operationMetricsPlugin } from './operation-metrics.ts';
import { persistedDocumentsPlugins } from './persisted-documents.ts';
import { privateAnswersPlugin } from './private-answers.ts';
import { queryJitPlugin } from './query-jit.ts';
import { queryLimitsPlugin } from './query-limits.ts';
import { operationLoggingPlugin } from './request-logging.ts';
import { streamingUploadsPlugin } from './streaming-uploads.ts';
import { upstreamCostPlugin } from './upstream-cost.ts';

export function gatewayPlugins(services: Services): Plugin<Context>[] {
  const { config, metrics, logger } = services;
  return [
    csrfPreventionPlugin(),
    jsonBodyLimitPlugin(),
    contentTypeHintPlugin(),
    streamingUploadsPlugin({
      maxUploadBytes: config.maxUploadBytes,
      pace: { minBytesPerSec: config.uploadMinBytesPerSec, windowMs: config.uploadRateWindowMs },
      slots: services.uploads,
      serviceToken: config.epmwareToken,
    }),
    // A documentId becomes the manifest's text before anything reads the document.
    ...persistedDocumentsPlugins(config.persistedDocuments, config.persistedDocumentsOnly),
    queryLimitsPlugin({ hideFieldSuggestions: !config.introspection }),
    ...introspectionPlugins(config.introspection),
    upstreamCostPlugin(config.maxUpstreamCallsPerOperation),
    operationMetricsPlugin(metrics),
    operationLoggingPlugin(logger),
    contractCodesPlugin(),
    // Cache-Control: private, no-store on every answer: each holds one credential's data.
    privateAnswersPlugin(),
    // @defer and @stream (multipart/mixed and SSE), with the gateway's error masking on the deferred payloads.
    ...deferStreamPlugins(maskGatewayError),
    // Request and operation spans, only when OTEL_EXPORTER_OTLP_ENDPOINT started tracing (observability/tracing.ts).
    ...tracingPlugins<Context>(),
    // Last: it only swaps the executor of queries (see query-jit.ts).
    queryJitPlugin(),
  ];
}
