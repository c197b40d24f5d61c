/**
 * The operator's documentation against the gateway it describes, so neither drifts: docs/operations.md's Metrics
 * table names every series a running gateway serves on /metrics and no other, each with the labels its samples carry;
 * the log lines the runbook quotes are the gateway's own; and the docs link each other where they say they do.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './gateway-process.ts';
import { stackForFile } from './harness.ts';

const operations = readFileSync(join(PROJECT_ROOT, 'docs', 'operations.md'), 'utf8');
const frontEnds = readFileSync(join(PROJECT_ROOT, 'docs', 'front-ends.md'), 'utf8');

/** The text of one `## ` section of a Markdown document, without its heading. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section "## ${heading}"`);
  const rest = markdown.slice(start + heading.length + 5);
  const end = rest.search(/\n## /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** `a_{b,c}_d` → a_b_d, a_c_d (the table's shorthand for a family of series). */
function expandBraces(name: string): string[] {
  const match = /\{([^}]*)\}/.exec(name);
  if (!match) return [name];
  return (match[1] ?? '').split(',').flatMap((part) => expandBraces(name.replace(match[0], part)));
}

/** The backticked words of a table cell that are not inside parentheses: the labels, not their values. */
function labelKeys(cell: string): string[] {
  const spans: string[] = [];
  const masked = cell.replace(/`([^`]*)`/g, (_all, inner: string) => `§${spans.push(inner) - 1}§`);
  let outside = masked;
  for (let previous = ''; previous !== outside; ) {
    previous = outside;
    outside = outside.replace(/\([^()]*\)/g, '');
  }
  return [...outside.matchAll(/§(\d+)§/g)].map((match) => spans[Number(match[1])] ?? '');
}

interface DocumentedSeries {
  names: string[];
  type: string;
  labels: string[];
}

/** The Metrics table's rows. */
function documentedSeries(): DocumentedSeries[] {
  return section(operations, 'Metrics')
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [names = '', type = '', labels = ''] = line.split(' | ').map((cell) => cell.replace(/^\| /, ''));
      return {
        names: [...names.matchAll(/`([^`]+)`/g)].flatMap((match) => expandBraces(match[1] ?? '')),
        type: type.trim(),
        labels: labelKeys(labels),
      };
    });
}

/** Each family /metrics serves: its type and the label names its samples carry (histograms' `le` aside). */
function servedSeries(text: string): Map<string, { type: string; labels: Set<string> }> {
  const families = new Map<string, { type: string; labels: Set<string> }>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    families.set(match[1] ?? '', { type: match[2] ?? '', labels: new Set() });
  }
  for (const line of text.split('\n')) {
    const sample = /^([a-zA-Z_:][\w:]*)\{([^}]*)\}/.exec(line);
    if (!sample?.[1]) continue;
    const family =
      families.get(sample[1]) ?? families.get(sample[1].replace(/_(bucket|count|sum)$/, '')) ?? undefined;
    for (const pair of (sample[2] ?? '').matchAll(/(\w+)="/g)) {
      if (pair[1] !== 'le') family?.labels.add(pair[1] ?? '');
    }
  }
  return families;
}

describe('docs/operations.md, Metrics', () => {
  // REDIS_URL set (to a port nothing listens on): the shared-state series exist only with one.
  const stack = stackForFile({ env: { METRICS_PORT: '0', REDIS_URL: 'redis://127.0.0.1:9/0' } });

  async function scrape(): Promise<string> {
    // A bit of everything first, so that labelled series have samples.
    await stack.graphql('{ users(first: 2) { nodes { userName } } }');
    await stack.graphql('{ nope }');
    await stack.graphql('mutation { enableUser(userName: "no-such-user") { enabled } }');
    const unmatched = await request(`${stack.origin}/no/such/path`);
    await unmatched.body.dump();
    const address = stack.gateway.metricsServer?.address() as AddressInfo | undefined;
    if (!address) throw new Error('METRICS_PORT is set, yet no metrics server listens');
    const response = await request(`http://127.0.0.1:${address.port}/metrics`);
    return response.body.text();
  }

  it('names every series /metrics serves, and none it does not, with its type and its labels', async () => {
    const served = servedSeries(await scrape());
    const documented = documentedSeries();
    const documentedNames = documented.flatMap((row) => row.names);
    expect(new Set(documentedNames).size).toBe(documentedNames.length);
    expect([...documentedNames].sort()).toEqual([...served.keys()].sort());
    for (const row of documented) {
      for (const name of row.names) {
        const family = served.get(name);
        expect(family?.type, name).toBe(row.type);
        // Labels are compared where the load above gave the series samples with labels.
        if (family && family.labels.size > 0) expect(new Set(row.labels), name).toEqual(family.labels);
      }
    }
  });
});

describe('docs/operations.md, Runbook', () => {
  const sources = [
    'src/main.ts',
    'src/redis/connection.ts',
    'src/routes/probes.ts',
    'src/transports/websocket.ts',
  ]
    .map((path) => readFileSync(join(PROJECT_ROOT, path), 'utf8'))
    .join('\n');

  it('quotes the shutdown as the gateway logs and answers it', () => {
    const rolling = operations.slice(
      operations.indexOf('### Rolling restart'),
      operations.indexOf('### Redis outage'),
    );
    for (const quoted of [
      'draining: /readyz answers 503, everything else is served until the drain ends',
      'shutting down: finishing in-flight work',
      'gateway stopped',
      'shutdown deadline passed: closing remaining connections',
      'Service restart: reconnect',
      "status: 'shutting down'",
    ]) {
      expect(sources, quoted).toContain(quoted);
    }
    for (const quoted of [
      '`draining: /readyz answers 503, everything else is served until the drain ends`',
      '`shutting down: finishing in-flight work`',
      '`gateway stopped`',
      '`503 {"status":"shutting down"}`',
      '1012',
    ]) {
      expect(rolling, quoted).toContain(quoted);
    }
  });

  it('links the front ends’ part, which exists', () => {
    expect(operations).toContain('(front-ends.md#reconnecting-subscriptions)');
    expect(frontEnds).toMatch(/^# Front ends\b/);
    expect(frontEnds).toContain('\n## Reconnecting subscriptions\n');
    expect(frontEnds).toContain('(operations.md#rolling-restart)');
  });
});
