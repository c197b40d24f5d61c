/**
 * The trusted-documents manifest as `npm run documents` builds it from examples/operations/, written to a temporary
 * file for PERSISTED_DOCUMENTS, with look-ups by operation name for the tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildManifest } from '../scripts/build-documents.ts';

export interface ManifestFile {
  path: string;
  manifest: Record<string, string>;
  /** The id of the document whose operation has this name. */
  idOf(operationName: string): string;
  textOf(operationName: string): string;
  remove(): void;
}

export function writeManifestFile(extra: Record<string, string> = {}): ManifestFile {
  const manifest = { ...buildManifest(), ...extra };
  const dir = mkdtempSync(join(tmpdir(), 'persisted-'));
  const path = join(dir, 'persisted-documents.json');
  writeFileSync(path, JSON.stringify(manifest));
  const idOf = (operationName: string): string => {
    const found = Object.entries(manifest).find(([, text]) =>
      new RegExp(`^(query|mutation|subscription) ${operationName}\\b`).test(text),
    );
    if (!found) throw new Error(`no operation ${operationName} in the manifest`);
    return found[0];
  };
  return {
    path,
    manifest,
    idOf,
    textOf: (operationName) => manifest[idOf(operationName)] as string,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
