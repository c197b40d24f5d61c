/**
 * `npm run documents`: builds the trusted-documents manifest from examples/operations/*.graphql, in the shape
 * GraphQL Codegen's client preset writes (persisted-documents.json): `{ "<sha256 hex of the text>": "<text>" }`,
 * one entry per operation, its text being the operation and the fragments it uses (from its own file), printed by
 * graphql-js. Point PERSISTED_DOCUMENTS at the output. `--out <path>` (default persisted-documents.json at the
 * project root).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type DefinitionNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  Kind,
  type OperationDefinitionNode,
  parse,
  print,
  visit,
} from 'graphql';
import { sha256Hex } from '../src/persisted/manifest.ts';
import { type OperationDocument, readOperationDocuments } from './check-operations.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_MANIFEST_PATH = join(ROOT, 'persisted-documents.json');

/** id -> text, in file order then operation order. */
export function buildManifest(
  documents: readonly OperationDocument[] = readOperationDocuments(),
): Record<string, string> {
  const manifest: Record<string, string> = {};
  for (const { source } of documents) {
    const document = parse(source, { noLocation: true });
    const fragments = new Map(
      document.definitions
        .filter(
          (definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION,
        )
        .map((fragment) => [fragment.name.value, fragment]),
    );
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      const text = print(standalone(definition, fragments));
      manifest[sha256Hex(text)] = text;
    }
  }
  return manifest;
}

/** The operation with every fragment it reaches, directly or through other fragments, in first-use order. */
function standalone(
  operation: OperationDefinitionNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
): DocumentNode {
  const used: FragmentDefinitionNode[] = [];
  const seen = new Set<string>();
  const collect = (node: DefinitionNode) => {
    visit(node, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        const fragment = fragments.get(name);
        if (seen.has(name) || !fragment) return;
        seen.add(name);
        used.push(fragment);
        collect(fragment);
      },
    });
  };
  collect(operation);
  return { kind: Kind.DOCUMENT, definitions: [operation, ...used] };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--out');
  const out = at >= 0 && process.argv[at + 1] ? (process.argv[at + 1] as string) : DEFAULT_MANIFEST_PATH;
  const manifest = buildManifest();
  writeFileSync(out, `${JSON.stringify(manifest, null, 2)}\n`);
  process.stdout.write(`${Object.keys(manifest).length} persisted documents written to ${out}\n`);
}
