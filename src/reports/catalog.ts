/**
 * The reports a gateway knows: the built-in set (builtin.ts) and every query of the operator's manifest, each by
 * its operation name (a manifest operation named like a built-in replaces it); a manifest document is also found
 * by its id. Built once per gateway: both sources are fixed at start-up.
 */
import { type DocumentNode, Kind, type OperationDefinitionNode, parse, print } from 'graphql';
import type { PersistedDocuments } from '../persisted/manifest.ts';
import { BUILTIN_REPORTS } from './builtin.ts';

export interface Report {
  name: string;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  /** The manifest's id, for a manifest report (it then runs by id); undefined for a built-in one. */
  id: string | undefined;
  rows: string | undefined;
  odata: string | undefined;
  description: string | undefined;
}

export class ReportCatalog {
  readonly #byName = new Map<string, Report>();

  constructor(manifest: PersistedDocuments) {
    for (const builtin of BUILTIN_REPORTS) {
      const document = parse(builtin.text);
      const [operation] = operationsOf(document);
      if (!operation?.name) throw new Error('A built-in report is a named operation');
      this.#byName.set(operation.name.value, {
        name: operation.name.value,
        document,
        operation,
        id: undefined,
        rows: builtin.rows,
        odata: builtin.odata,
        description: builtin.description,
      });
    }
    for (const entry of manifest.entries()) {
      for (const operation of entry.operations) {
        if (operation.operation !== 'query' || !operation.name) continue;
        this.#byName.set(operation.name.value, {
          name: operation.name.value,
          document: entry.document,
          operation,
          id: entry.id,
          rows: undefined,
          odata: undefined,
          description: undefined,
        });
      }
    }
  }

  byName(name: string): Report | undefined {
    return this.#byName.get(name);
  }

  list(): Report[] {
    return [...this.#byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

function operationsOf(document: DocumentNode): OperationDefinitionNode[] {
  return document.definitions.filter(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
}

/** A report's variables as the catalog shows them: name, GraphQL type, whether required, default. */
export function variablesOf(
  operation: OperationDefinitionNode,
): Array<{ name: string; type: string; required: boolean; default?: string }> {
  return (operation.variableDefinitions ?? []).map((definition) => ({
    name: definition.variable.name.value,
    type: print(definition.type),
    required: definition.type.kind === Kind.NON_NULL_TYPE && !definition.defaultValue,
    ...(definition.defaultValue ? { default: print(definition.defaultValue) } : {}),
  }));
}
