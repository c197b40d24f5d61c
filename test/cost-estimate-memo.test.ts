/**
 * The estimate memo: a document sent again with the same variables is not walked again, and what it remembers is
 * bounded (MAX_ESTIMATES entries, least recently used first out; variables past MAX_VARIABLES_KEY characters or
 * holding more than JSON values are never kept). Over HTTP, demand-estimate.test.ts' "sets the limit" sends one
 * document with 4 names (refused) and then 3 (allowed): the memo tells variables apart.
 */
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { estimateUpstreamCalls } from '../src/cost/estimate.ts';
import { EstimateMemo, MAX_ESTIMATES, MAX_VARIABLES_KEY } from '../src/cost/estimate-memo.ts';
import { schema } from '../src/schema/index.ts';

const DASHBOARD = parse('query ($n: [String!]!) { deployments(names: $n) { latestExecution { state } } }');

function names(count: number, prefix = 'D'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

describe('EstimateMemo', () => {
  it('answers what the estimate answers, and the same object when asked again', () => {
    const memo = new EstimateMemo();
    const first = memo.estimate(schema, DASHBOARD, { n: names(3) });
    expect(first).toEqual(estimateUpstreamCalls(schema, DASHBOARD, { n: names(3) }));
    expect(first?.calls).toBe(3);
    expect(memo.estimate(schema, DASHBOARD, { n: names(3) })).toBe(first);
    expect(memo.estimate(schema, DASHBOARD, { n: names(4) })?.calls).toBe(4);
    // Another document object (parsed again) is another entry.
    const again = parse('query ($n: [String!]!) { deployments(names: $n) { latestExecution { state } } }');
    expect(memo.estimate(schema, again, { n: names(3) })).not.toBe(first);
    expect(memo.size).toBe(3);
  });

  it('stays within MAX_ESTIMATES when flooded with distinct variables, evicting the least recently used', () => {
    const memo = new EstimateMemo();
    const kept = memo.estimate(schema, DASHBOARD, { n: ['kept'] });
    for (let i = 0; i < 5 * MAX_ESTIMATES; i++) {
      memo.estimate(schema, DASHBOARD, { n: [`flood${i}`] });
      if (i % 100 === 0) memo.estimate(schema, DASHBOARD, { n: ['kept'] }); // used again: stays
      expect(memo.size).toBeLessThanOrEqual(MAX_ESTIMATES);
    }
    expect(memo.size).toBe(MAX_ESTIMATES);
    expect(memo.estimate(schema, DASHBOARD, { n: ['kept'] })).toBe(kept);
    const early = memo.estimate(schema, DASHBOARD, { n: ['flood1'] });
    expect(early).toEqual(kept); // recomputed (evicted long ago), same answer
  });

  it('keeps neither large variables nor anything but JSON values (an upload)', () => {
    const memo = new EstimateMemo();
    const large = { n: names(100, 'A_DEPLOYMENT_WITH_A_LONG_NAME_') };
    expect(JSON.stringify(large).length).toBeGreaterThan(MAX_VARIABLES_KEY);
    expect(memo.estimate(schema, DASHBOARD, large)?.calls).toBe(large.n.length);
    class Upload {
      readonly name = 'file.csv';
    }
    const upload = parse(
      'mutation ($f: File!) { uploadErpFile(file: $f, name: "E", delimiter: ",") { taskId } }',
    );
    expect(memo.estimate(schema, upload, { f: new Upload() })?.calls).toBe(1);
    expect(memo.size).toBe(0);
  });
});
