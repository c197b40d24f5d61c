/**
 * The service's two documents that need no credentials: `$metadata` (CSDL XML, OData 4.0, valid against OASIS's
 * edmx.xsd and edm.xsd) and the service document (the entity sets, JSON). Both are built once from the model.
 *
 * $metadata says what BI tools need to build typed tables and relationships: keys, Edm types and nullability,
 * navigation properties between Users, Groups and Memberships (with their referential constraints), and the
 * Capabilities annotations: the execution sets require a $filter on their name, and nothing is expandable or
 * searchable (both answer 501).
 */
import { CONTAINER, type EntitySet, NAMESPACE } from './model.ts';

const CAPABILITIES_VOCABULARY =
  'https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml';

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function attributes(values: Record<string, string | boolean>): string {
  return Object.entries(values)
    .map(([name, value]) => ` ${name}="${escapeXml(String(value))}"`)
    .join('');
}

function entityType(set: EntitySet): string[] {
  const lines = [`      <EntityType${attributes({ Name: set.type })}>`, '        <Key>'];
  for (const key of set.keys) lines.push(`          <PropertyRef${attributes({ Name: key })}/>`);
  lines.push('        </Key>');
  for (const property of set.properties) {
    lines.push(
      `        <Property${attributes({ Name: property.name, Type: property.type, Nullable: property.nullable })}/>`,
    );
  }
  for (const navigation of set.navigation) {
    const type = `${NAMESPACE}.${navigation.target}`;
    const open = `        <NavigationProperty${attributes({
      Name: navigation.name,
      Type: navigation.collection ? `Collection(${type})` : type,
      ...(navigation.collection ? {} : { Nullable: false }),
      Partner: navigation.partner,
    })}`;
    if (navigation.constraints.length === 0) {
      lines.push(`${open}/>`);
      continue;
    }
    lines.push(`${open}>`);
    for (const [property, referenced] of navigation.constraints) {
      lines.push(
        `          <ReferentialConstraint${attributes({ Property: property, ReferencedProperty: referenced })}/>`,
      );
    }
    lines.push('        </NavigationProperty>');
  }
  lines.push('      </EntityType>');
  return lines;
}

function capabilities(set: EntitySet): string[] {
  const lines = [
    '          <Annotation Term="Capabilities.ExpandRestrictions">',
    '            <Record><PropertyValue Property="Expandable" Bool="false"/></Record>',
    '          </Annotation>',
    '          <Annotation Term="Capabilities.SearchRestrictions">',
    '            <Record><PropertyValue Property="Searchable" Bool="false"/></Record>',
    '          </Annotation>',
  ];
  if (set.requiredFilter) {
    lines.push(
      '          <Annotation Term="Capabilities.FilterRestrictions">',
      '            <Record>',
      '              <PropertyValue Property="RequiresFilter" Bool="true"/>',
      '              <PropertyValue Property="RequiredProperties">',
      `                <Collection><PropertyPath>${escapeXml(set.requiredFilter)}</PropertyPath></Collection>`,
      '              </PropertyValue>',
      '            </Record>',
      '          </Annotation>',
    );
  }
  return lines;
}

function entitySetElement(set: EntitySet, sets: readonly EntitySet[]): string[] {
  const lines = [
    `        <EntitySet${attributes({ Name: set.name, EntityType: `${NAMESPACE}.${set.type}` })}>`,
  ];
  for (const navigation of set.navigation) {
    const target = sets.find((candidate) => candidate.type === navigation.target);
    if (target) {
      lines.push(
        `          <NavigationPropertyBinding${attributes({ Path: navigation.name, Target: target.name })}/>`,
      );
    }
  }
  lines.push(...capabilities(set), '        </EntitySet>');
  return lines;
}

/** The CSDL XML of the model. */
export function metadataDocument(sets: readonly EntitySet[]): string {
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">',
    `  <edmx:Reference${attributes({ Uri: CAPABILITIES_VOCABULARY })}>`,
    '    <edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/>',
    '  </edmx:Reference>',
    '  <edmx:DataServices>',
    `    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm"${attributes({ Namespace: NAMESPACE })}>`,
    ...sets.flatMap(entityType),
    `      <EntityContainer${attributes({ Name: CONTAINER })}>`,
    ...sets.flatMap((set) => entitySetElement(set, sets)),
    '      </EntityContainer>',
    '    </Schema>',
    '  </edmx:DataServices>',
    '</edmx:Edmx>',
    '',
  ].join('\n');
}

/** The service document: every entity set, by the URL relative to the service root. */
export function serviceDocument(serviceRoot: string, sets: readonly EntitySet[]): Record<string, unknown> {
  return {
    '@odata.context': `${serviceRoot}$metadata`,
    value: sets.map((set) => ({ name: set.name, kind: 'EntitySet', url: set.name })),
  };
}
