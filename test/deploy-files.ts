/**
 * Readers for the files in deploy/ (and .dockerignore), shared by the tests that run them (deploy-image,
 * deploy-haproxy) and the one that checks them against the gateway (deploy-manifests). YAML through the `yaml`
 * package; the Dockerfile, HAProxy configuration and systemd unit are line formats read here: a full Dockerfile
 * parser (BuildKit's grammar: heredocs, parser directives) would be a dependency for the dozen instructions these
 * files use, and each reader below fails loudly on a form it does not know rather than guess.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { PROJECT_ROOT } from './gateway-process.ts';

export const DEPLOY_DIR = join(PROJECT_ROOT, 'deploy');

export function deployFile(...parts: string[]): string {
  return readFileSync(join(DEPLOY_DIR, ...parts), 'utf8');
}

// ---------------------------------------------------------------------------------------------------------------
// Dockerfile

export interface Instruction {
  keyword: string;
  /** `--from=build`, `--interval=10s`, … as name → value. */
  flags: Record<string, string>;
  /** The rest of the line, continuation lines joined. */
  args: string;
}

export interface Stage {
  name: string;
  /** The base image, ARG defaults substituted. */
  from: string;
  instructions: Instruction[];
}

/** Logical lines: comments dropped, `\` continuations joined. */
function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push(`${pending}${line}`.trim());
    pending = '';
  }
  if (pending !== '') throw new Error('Dockerfile ends inside a continued line');
  return lines;
}

function instruction(line: string): Instruction {
  const match = /^([A-Z]+)\s+(.*)$/s.exec(line);
  if (!match?.[1] || match[2] === undefined) throw new Error(`not a Dockerfile instruction: ${line}`);
  let args = match[2];
  const flags: Record<string, string> = {};
  for (let flag = /^--([a-z-]+)=(\S+)\s+/.exec(args); flag; flag = /^--([a-z-]+)=(\S+)\s+/.exec(args)) {
    flags[flag[1] ?? ''] = flag[2] ?? '';
    args = args.slice(flag[0].length);
  }
  return { keyword: match[1], flags, args };
}

export function readDockerfile(text = deployFile('Dockerfile')): Stage[] {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logicalLines(text)) {
    const parsed = instruction(line);
    if (parsed.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = parsed.args.split('=');
      globalArgs[name ?? ''] = value;
    } else if (parsed.keyword === 'FROM') {
      const fromMatch = /^(\S+)\s+AS\s+(\S+)$/i.exec(parsed.args);
      if (!fromMatch?.[1] || !fromMatch[2]) throw new Error(`FROM without a stage name: ${line}`);
      const from = fromMatch[1].replace(/\$\{(\w+)\}/g, (_all, name: string) => globalArgs[name] ?? '');
      stages.push({ name: fromMatch[2], from, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`instruction before FROM: ${line}`);
      stage.instructions.push(parsed);
    }
  }
  return stages;
}

export function stageNamed(stages: Stage[], name: string): Stage {
  const stage = stages.find((each) => each.name === name);
  if (!stage) throw new Error(`no stage ${name}`);
  return stage;
}

export function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((each) => each.keyword === keyword);
}

/** The one instruction of that kind in the stage. */
export function single(stage: Stage, keyword: string): Instruction {
  const found = instructions(stage, keyword);
  if (found.length !== 1)
    throw new Error(`${stage.name}: ${found.length} ${keyword} instructions, expected 1`);
  return found[0] as Instruction;
}

/** `ENV A=1 B=2` (unquoted values: the only form the Dockerfile uses; a quote fails here rather than mislead). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of instructions(stage, 'ENV')) {
    for (const pair of args.split(/\s+/)) {
      const [name, value] = pair.split('=');
      if (!name || value === undefined || /["']/.test(value))
        throw new Error(`ENV form not read here: ${args}`);
      env[name] = value;
    }
  }
  return env;
}

/** An exec-form (JSON array) command: CMD ["node", "dist/main.js"]; HEALTHCHECK's after its CMD keyword. */
export function execForm(args: string): string[] {
  const json = args.replace(/^CMD\s+/, '');
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string'))
    throw new Error(`not an exec-form command: ${args}`);
  return parsed;
}

export interface Copy {
  /** The stage copied from, or null for the build context. */
  from: string | null;
  sources: string[];
  destination: string;
}

export function copies(stage: Stage): Copy[] {
  return instructions(stage, 'COPY').map(({ flags, args }) => {
    const parts = args.split(/\s+/);
    const destination = parts.pop();
    if (!destination || parts.length === 0) throw new Error(`COPY without source or destination: ${args}`);
    return { from: flags.from ?? null, sources: parts, destination };
  });
}

/** The patterns of .dockerignore, in order (`!` re-includes). */
export function dockerignore(): string[] {
  return readFileSync(join(PROJECT_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

// ---------------------------------------------------------------------------------------------------------------
// compose.yaml

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  /** Ports other containers of the project reach, not published on the host. */
  expose?: string[];
  /** A compose duration: "30s", "1m30s". */
  stop_grace_period?: string;
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, unknown> | string[];
}

export interface Compose {
  services: Record<string, ComposeService>;
}

export function readCompose(): Compose {
  // merge: YAML's `<<` keys, should the file use them; aliases (*gateway) resolve either way.
  return parseYaml(deployFile('compose.yaml'), { merge: true }) as Compose;
}

/** The gateway services: built from deploy/Dockerfile and running its CMD (the simulator overrides it). */
export function gatewayServices(compose: Compose): Array<[name: string, service: ComposeService]> {
  return Object.entries(compose.services).filter(
    ([, service]) => service.build?.dockerfile === 'deploy/Dockerfile' && service.command === undefined,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  /** Typed by the test that reads it, per kind. */
  spec?: unknown;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** Every resource kustomization.yaml lists, in its order. */
export function readKubernetes(): Manifest[] {
  const kustomization = parseYaml(deployFile('kubernetes', 'kustomization.yaml')) as { resources: string[] };
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(deployFile('kubernetes', file)).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
      return document.toJS() as Manifest;
    }),
  );
}

export function resource(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((each) => each.kind === kind && each.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// HAProxy, systemd, env files

/** The environment variables haproxy.cfg expands: name → its default, or null when it has none. */
export function haproxyVariables(text = deployFile('haproxy', 'haproxy.cfg')): Map<string, string | null> {
  const variables = new Map<string, string | null>();
  const code = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('\n');
  for (const match of code.matchAll(/"\$\{([A-Z0-9_]+)(?:-([^}]*))?\}"/g)) {
    variables.set(match[1] ?? '', match[2] ?? null);
  }
  return variables;
}

/** `key=value` lines of a systemd unit, per section (a key may repeat). */
export function readUnit(text: string): Map<string, Array<[key: string, value: string]>> {
  const sections = new Map<string, Array<[string, string]>>();
  let current: Array<[string, string]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section?.[1]) {
      current = [];
      sections.set(section[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not a unit line: ${line}`);
    current.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return sections;
}

/** An EnvironmentFile: VAR=value lines (no quotes, no `export`). */
export function readEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined) throw new Error(`not a VAR=value line: ${line}`);
    env[match[1]] = match[2];
  }
  return env;
}
