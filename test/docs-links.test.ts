/**
 * Every relative link in README.md, ARCHITECTURE.md and docs/*.md leads somewhere: the file (or folder) exists, and
 * an anchor (`page.md#section`, `#section`) names a heading of that page as GitHub spells it. Text moves between
 * these pages, and a heading renamed or moved breaks its links without anything else noticing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './gateway-process.ts';

const PAGES = [
  'README.md',
  'ARCHITECTURE.md',
  ...readdirSync(join(PROJECT_ROOT, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`),
];

/** A page's text without fenced code blocks (whose brackets and `#` lines are code, not links or headings). */
function prose(markdown: string): string {
  return markdown.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '');
}

/** Inline code spans removed, so `[a](b)` written as code is not taken for a link. */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)[\s\S]*?\1/g, '');
}

/**
 * A heading's anchor as GitHub makes it (github-slugger): the heading's text without its markdown (code ticks,
 * emphasis, link targets), lower-cased, with every character that is not a letter, mark, number, `_`, `-` or a space
 * dropped and each space turned into `-`; a repeated anchor gets `-1`, `-2`, … in order.
 */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of prose(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const text = (match[1] ?? '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[`*]/g, '')
      .replace(/<[^>]+>/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

interface Link {
  page: string;
  line: number;
  target: string;
}

/** The relative links of a page: `[text](target)` and `[text](target "title")`, outside code. */
function relativeLinks(page: string, markdown: string): Link[] {
  const links: Link[] = [];
  prose(markdown)
    .split('\n')
    .forEach((text, index) => {
      for (const match of withoutCodeSpans(text).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
        const target = match[1] ?? '';
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
        links.push({ page, line: index + 1, target });
      }
    });
  return links;
}

/** What is wrong with a link, or null when it leads somewhere. */
function brokenLink(link: Link, read: (path: string) => string | null): string | null {
  const [path = '', anchor] = link.target.split('#', 2);
  const file =
    path === '' ? link.page : relative(PROJECT_ROOT, resolve(PROJECT_ROOT, dirname(link.page), path));
  if (file.startsWith('..')) return `${link.target} leaves the repository`;
  const text = read(file);
  if (text === null) return `${link.target}: no such file ${file}`;
  if (anchor === undefined) return null;
  if (!file.endsWith('.md')) return `${link.target}: an anchor into ${file}, which is not a markdown page`;
  return anchorsOf(text).has(decodeURIComponent(anchor))
    ? null
    : `${link.target}: ${file} has no heading #${anchor}`;
}

/** A file's text ('' for a folder), or null when it does not exist. */
function readFromRepository(path: string): string | null {
  const full = join(PROJECT_ROOT, path);
  if (!existsSync(full)) return null;
  return statSync(full).isDirectory() ? '' : readFileSync(full, 'utf8');
}

describe('links between the README and the docs', () => {
  it('every relative link in README.md, ARCHITECTURE.md and docs/*.md resolves to a file and a heading', () => {
    const links = PAGES.flatMap((page) =>
      relativeLinks(page, readFileSync(join(PROJECT_ROOT, page), 'utf8')),
    );
    // The pages link to each other a lot: a parser that found nothing would pass for the wrong reason.
    expect(links.length).toBeGreaterThan(80);
    const broken = links.flatMap((link) => {
      const problem = brokenLink(link, readFromRepository);
      return problem ? [`${link.page}:${link.line}: ${problem}`] : [];
    });
    expect(broken).toEqual([]);
  });

  it('the README links every docs page, deploy/ and ARCHITECTURE.md', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const targets = new Set(relativeLinks('README.md', readme).map((link) => link.target.split('#')[0]));
    const wanted = [...PAGES.filter((page) => page.startsWith('docs/')), 'deploy/', 'ARCHITECTURE.md'];
    expect(wanted.filter((page) => !targets.has(page))).toEqual([]);
  });

  it('every docs page starts with a title and a summary paragraph', () => {
    for (const page of PAGES.filter((page) => page.startsWith('docs/'))) {
      const [title, blank, summary] = readFileSync(join(PROJECT_ROOT, page), 'utf8').split('\n');
      expect(title, page).toMatch(/^# \S/);
      expect(blank, page).toBe('');
      expect(summary, page).toMatch(/^(?!```)[^#|\s-]/);
    }
  });

  it('the checker finds what is broken: a missing file, a missing heading, an anchor into a folder', () => {
    const pages: Record<string, string> = {
      'docs/a.md':
        '# A page\n\n## Hosts and the service token\n\n```\n## Not a heading\n```\n## Hosts and the service token\n',
      docs: '',
    };
    const read = (path: string) => pages[path] ?? null;
    const check = (target: string) => brokenLink({ page: 'docs/a.md', line: 1, target }, read);
    expect(check('a.md#hosts-and-the-service-token')).toBeNull();
    expect(check('#hosts-and-the-service-token-1')).toBeNull();
    expect(check('#not-a-heading')).toContain('has no heading');
    expect(check('b.md')).toContain('no such file');
    expect(check('a.md#hosts')).toContain('has no heading');
    expect(check('../docs#x')).toContain('not a markdown page');
    expect(
      relativeLinks('x.md', 'see `[code](nope.md)` and [real](yes.md) and [web](https://x.org)\n'),
    ).toEqual([{ page: 'x.md', line: 1, target: 'yes.md' }]);
    expect([...anchorsOf('## Task pollers (`npm run bench:pollers`)\n## Deep → groups, cold\n')]).toEqual([
      'task-pollers-npm-run-benchpollers',
      'deep--groups-cold',
    ]);
  });
});
