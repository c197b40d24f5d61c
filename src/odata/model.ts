/**
 * The OData entity model: five entity sets, their keys and typed properties. The properties of Users, Groups and
 * the two execution sets are the scalar fields of the GraphQL types that serve them (User, Group,
 * DeploymentExecution, ExportExecution), read from the built schema: a scalar field added to one of those types
 * appears in $metadata and in the rows without a second edit. Only what the contract fixes is written here: keys,
 * the names that differ from the graph (an execution's `name` is `deploymentName` / `exportName`), the leading
 * order of properties, and Int64 where a GraphQL Float holds whole numbers past 2^31.
 */
import {
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  getNamedType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';

export type EdmType =
  | 'Edm.String'
  | 'Edm.Boolean'
  | 'Edm.Int32'
  | 'Edm.Int64'
  | 'Edm.Double'
  | 'Edm.DateTimeOffset';

export interface EdmProperty {
  /** The OData name. */
  name: string;
  type: EdmType;
  nullable: boolean;
  /** The GraphQL field the value comes from (a response key of the rows' query). */
  field: string;
}

export type EntitySetName = 'Users' | 'Groups' | 'Memberships' | 'DeploymentExecutions' | 'ExportExecutions';

export interface NavigationProperty {
  name: string;
  /** The entity type's name (without namespace). */
  target: string;
  collection: boolean;
  /** This type's property -> the target's property. */
  constraints: ReadonlyArray<readonly [string, string]>;
  partner: string;
}

export interface EntitySet {
  name: EntitySetName;
  /** The entity type's name (without namespace). */
  type: string;
  keys: readonly string[];
  properties: readonly EdmProperty[];
  byName: ReadonlyMap<string, EdmProperty>;
  navigation: readonly NavigationProperty[];
  /**
   * The property a $filter must pin with `eq` or `in` (EPMware cannot list deployments or exports, only a named
   * one's history); undefined for the sets EPMware lists whole.
   */
  requiredFilter?: string;
  /** Key properties compared as EPMware compares names: case-insensitively. */
  nameKeys: readonly string[];
}

export const NAMESPACE = 'EPMware';
export const CONTAINER = 'Gateway';

/** GraphQL scalar -> Edm type (contract, "OData feed": Types); enums are Edm.String. */
const EDM_OF_SCALAR: Record<string, EdmType> = {
  String: 'Edm.String',
  ID: 'Edm.String',
  Boolean: 'Edm.Boolean',
  Int: 'Edm.Int32',
  Float: 'Edm.Double',
  DateTime: 'Edm.DateTimeOffset',
};

interface Derivation {
  graphqlType: string;
  /** OData names that differ from the GraphQL field's. */
  renamed?: Record<string, string>;
  /** Edm types that differ from the scalar's default (a Float that counts bytes is Int64). */
  types?: Record<string, EdmType>;
  /** Properties listed first, in this order (the contract's); the rest follow by name. */
  leading: readonly string[];
}

/** A field's type unwrapped: its named type, and whether the outermost wrapper is non-null; undefined for a list. */
function scalarShape(
  field: GraphQLField<unknown, unknown>,
): { named: GraphQLNamedType; nonNull: boolean } | undefined {
  const { type } = field;
  const nullable = isNonNullType(type) ? type.ofType : type;
  if (isListType(nullable)) return undefined;
  return { named: getNamedType(type), nonNull: isNonNullType(type) };
}

/**
 * The scalar (and enum) fields of a GraphQL object type as Edm properties: single values only (a list is no
 * column), fields without required arguments; the Relay global `id` is left out.
 */
export function scalarProperties(schema: GraphQLSchema, derivation: Derivation): EdmProperty[] {
  const type = schema.getType(derivation.graphqlType);
  if (!isObjectType(type)) throw new Error(`The schema has no object type ${derivation.graphqlType}`);
  const properties: EdmProperty[] = [];
  for (const field of Object.values(type.getFields())) {
    if (field.name === 'id' || field.args.some((arg) => isNonNullType(arg.type))) continue;
    const shape = scalarShape(field);
    let edm: EdmType | undefined;
    if (shape && isEnumType(shape.named)) edm = 'Edm.String';
    else if (shape && isScalarType(shape.named)) edm = EDM_OF_SCALAR[shape.named.name];
    if (!shape || !edm) continue;
    const name = derivation.renamed?.[field.name] ?? field.name;
    properties.push({
      name,
      type: derivation.types?.[name] ?? edm,
      nullable: !shape.nonNull,
      field: field.name,
    });
  }
  const rank = (name: string) => {
    const at = derivation.leading.indexOf(name);
    return at < 0 ? derivation.leading.length : at;
  };
  return properties.sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : 1));
}

function entitySet(
  definition: Omit<EntitySet, 'byName' | 'navigation' | 'nameKeys'> & {
    navigation?: NavigationProperty[];
    nameKeys?: string[];
  },
): EntitySet {
  for (const key of definition.keys) {
    const property = definition.properties.find((p) => p.name === key);
    if (!property) throw new Error(`${definition.name}: no key property ${key}`);
    property.nullable = false;
  }
  return {
    navigation: [],
    nameKeys: definition.keys,
    ...definition,
    byName: new Map(definition.properties.map((property) => [property.name, property])),
  };
}

const EXECUTION_LEADING = [
  'executionId',
  'state',
  'status',
  'startedAt',
  'endedAt',
  'durationSeconds',
] as const;

/** The five entity sets, derived from the schema once (the schema is built once per process). */
export function entityModel(schema: GraphQLSchema): ReadonlyMap<EntitySetName, EntitySet> {
  const sets: EntitySet[] = [
    entitySet({
      name: 'Users',
      type: 'User',
      keys: ['userName'],
      properties: scalarProperties(schema, {
        graphqlType: 'User',
        leading: ['userName', 'firstName', 'lastName', 'email', 'userType', 'enabled'],
      }),
      navigation: [
        {
          name: 'memberships',
          target: 'Membership',
          collection: true,
          constraints: [],
          partner: 'user',
        },
      ],
    }),
    entitySet({
      name: 'Groups',
      type: 'Group',
      keys: ['name'],
      properties: scalarProperties(schema, { graphqlType: 'Group', leading: ['name'] }),
      navigation: [
        {
          name: 'memberships',
          target: 'Membership',
          collection: true,
          constraints: [],
          partner: 'group',
        },
      ],
    }),
    entitySet({
      name: 'Memberships',
      type: 'Membership',
      keys: ['userName', 'groupName'],
      properties: [
        { name: 'userName', type: 'Edm.String', nullable: false, field: 'userName' },
        { name: 'groupName', type: 'Edm.String', nullable: false, field: 'groupName' },
      ],
      navigation: [
        {
          name: 'user',
          target: 'User',
          collection: false,
          constraints: [['userName', 'userName']],
          partner: 'memberships',
        },
        {
          name: 'group',
          target: 'Group',
          collection: false,
          constraints: [['groupName', 'name']],
          partner: 'memberships',
        },
      ],
    }),
    entitySet({
      name: 'DeploymentExecutions',
      type: 'DeploymentExecution',
      keys: ['deploymentName', 'executionId'],
      nameKeys: ['deploymentName'],
      requiredFilter: 'deploymentName',
      properties: scalarProperties(schema, {
        graphqlType: 'DeploymentExecution',
        renamed: { name: 'deploymentName' },
        leading: ['deploymentName', ...EXECUTION_LEADING],
      }),
    }),
    entitySet({
      name: 'ExportExecutions',
      type: 'ExportExecution',
      keys: ['exportName', 'executionId'],
      nameKeys: ['exportName'],
      requiredFilter: 'exportName',
      properties: scalarProperties(schema, {
        graphqlType: 'ExportExecution',
        renamed: { name: 'exportName' },
        types: { outputFileSizeBytes: 'Edm.Int64' },
        leading: ['exportName', ...EXECUTION_LEADING, 'outputFileName', 'outputFileSizeBytes'],
      }),
    }),
  ];
  return new Map(sets.map((set) => [set.name, set]));
}

export function isEntitySetName(name: string): name is EntitySetName {
  return (
    name === 'Users' ||
    name === 'Groups' ||
    name === 'Memberships' ||
    name === 'DeploymentExecutions' ||
    name === 'ExportExecutions'
  );
}
