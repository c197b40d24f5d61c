/**
 * Parse once per cached answer. The in-process cache hands out the same CachedAnswer object on every hit, so a
 * WeakMap keyed by it keeps the parsed value exactly as long as the cache keeps the text: no size or eviction of
 * its own, and nothing crosses credentials, since cached answers never do. A 1,000-user list is 170 KB of JSON;
 * parsing it on every request was a tenth of a list request's CPU.
 *
 * Every request reading that answer shares the value (and the indexes and sort orders memoized on it downstream),
 * so its arrays — at any depth — are frozen: an in-place sort, reverse or push, the likely accident, throws instead
 * of corrupting the next request's answer. Objects stay extensible because Pothos brands the objects a Node or
 * loadable field returns with a (non-enumerable) type symbol; their fields must be treated as read-only all the
 * same. An answer that is not cached (writes, a cache that is off) is parsed for its one caller, as before.
 */
import type { CachedAnswer } from './cache.ts';

const parsed = new WeakMap<CachedAnswer, unknown>();

/** JSON.parse(answer.text), frozen, once per answer object. Throws what JSON.parse throws. */
export function parsedAnswer(answer: CachedAnswer): unknown {
  if (parsed.has(answer)) return parsed.get(answer);
  const value = freezeArrays(JSON.parse(answer.text) as unknown);
  parsed.set(answer, value);
  return value;
}

function freezeArrays(root: unknown): unknown {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) Object.freeze(value);
    for (const child of Object.values(value))
      if (typeof child === 'object' && child !== null) pending.push(child);
  }
  return root;
}
