/**
 * Validates the example operations front ends start from (examples/operations/*.graphql) against the committed
 * schema.graphql, so an example that drifts from the schema fails CI. Each file is validated on its own (its
 * fragments are its own); operation names must be unique across files, as Relay's compiler and persisted-query
 * tools require. Exits 1 on any problem. test/operations-docs.test.ts runs the same check under `npm test`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSchema, GraphQLError, type GraphQLSchema, Kind, parse, validate } from 'graphql';

export interface OperationProblem {
  file: string;
  message: string;
  line?: number;
  column?: number;
}

export interface OperationDocument {
  file: string;
  source: string;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const OPERATIONS_DIR = join(ROOT, 'examples', 'operations');

export function loadSchema(path = join(ROOT, 'schema.graphql')): GraphQLSchema {
  return buildSchema(readFileSync(path, 'utf8'));
}

export function readOperationDocuments(dir = OPERATIONS_DIR): OperationDocument[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.graphql'))
    .sort()
    .map((name) => ({ file: join(dir, name), source: readFileSync(join(dir, name), 'utf8') }));
}

export function checkOperationDocuments(
  schema: GraphQLSchema,
  documents: readonly OperationDocument[],
): OperationProblem[] {
  const problems: OperationProblem[] = [];
  const firstFileOf = new Map<string, string>();
  for (const { file, source } of documents) {
    let document: ReturnType<typeof parse>;
    try {
      document = parse(source);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      problems.push(problemOf(file, error));
      continue;
    }
    for (const error of validate(schema, document)) problems.push(problemOf(file, error));
    let operations = 0;
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      operations++;
      const name = definition.name?.value;
      if (!name) {
        problems.push({ file, message: 'every example operation needs a name', ...at(definition.loc) });
        continue;
      }
      const earlier = firstFileOf.get(name);
      if (earlier) problems.push({ file, message: `operation ${name} is also defined in ${earlier}` });
      else firstFileOf.set(name, file);
    }
    if (operations === 0) problems.push({ file, message: 'no operation in this file' });
  }
  return problems;
}

function problemOf(file: string, error: GraphQLError): OperationProblem {
  const location = error.locations?.[0];
  return { file, message: error.message, ...(location ?? {}) };
}

function at(loc: { startToken: { line: number; column: number } } | undefined) {
  return loc ? { line: loc.startToken.line, column: loc.startToken.column } : {};
}

export function formatProblem(problem: OperationProblem): string {
  const where = problem.line ? `${problem.file}:${problem.line}:${problem.column ?? 1}` : problem.file;
  return `${where}: ${problem.message}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const documents = readOperationDocuments();
  const problems = checkOperationDocuments(loadSchema(), documents);
  for (const problem of problems) process.stderr.write(`${formatProblem(problem)}\n`);
  if (problems.length > 0) {
    process.stderr.write(`${problems.length} problem(s) in examples/operations against schema.graphql\n`);
    process.exit(1);
  }
  process.stdout.write(`${documents.length} operation documents valid against schema.graphql\n`);
}
