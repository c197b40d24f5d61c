// Word lists for the seeded tenants. The two tenants draw from disjoint pools so that no user name of one
// tenant can appear in the other: a test that sees a primary user through the secondary token found a leak.

export interface NamePool {
  firstNames: readonly string[];
  lastNames: readonly string[];
  emailDomain: string;
}

export const PRIMARY_NAMES: NamePool = {
  emailDomain: 'acme-corp.com',
  firstNames: (
    'james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony ' +
    'mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan ' +
    'jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander ' +
    'frank patrick raymond jack dennis jerry mary patricia jennifer linda elizabeth barbara susan jessica sarah ' +
    'karen lisa nancy betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa ' +
    'deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole ' +
    'helen samantha katherine christine rachel janet catherine maria heather tony deven priya raj wei mei ' +
    'hiroshi yuki ahmed fatima carlos sofia lucas'
  ).split(' '),
  lastNames: (
    'smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson ' +
    'anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis ' +
    'robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall ' +
    'rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins reyes ' +
    'stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ' +
    'ramos kim cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price ' +
    'alvarez castillo sanders patel myers long ross foster jimenez shah kumar chen wang tanaka sato'
  ).split(' '),
};

export const SECONDARY_NAMES: NamePool = {
  emailDomain: 'globex.example',
  firstNames: (
    'astrid bjorn freya henrik ingrid lars magnus nils sigrid sven tove ulf anders britt elin gunnar hilde ' +
    'jonas kari leif maja oskar runa stig torild vidar agneta birger dagny eskil'
  ).split(' '),
  lastNames: (
    'andersson berg dahl eklund falk holm johansson karlsson lindqvist lund nilsson nyberg olsen persson ' +
    'sandberg strand sundberg vik wikstrom aasen bakke eriksen haugen hansen moen solberg'
  ).split(' '),
};

/** Group names in the order a tenant gets them; the docs' examples (Approver, Reviewer, Admin, Developers) first. */
export const PRIMARY_GROUPS: readonly (readonly [string, string])[] = [
  ['Approver', 'Approves metadata requests'],
  ['Reviewer', 'Reviews metadata requests'],
  ['Admin', 'Application administrators'],
  ['Developers', 'Developer group'],
  ['Finance', 'Finance users'],
  ['Auditors', 'Read access for internal audit'],
  ['Data Stewards', 'Owners of master data quality'],
  ['Planning Users', 'Planning and budgeting users'],
  ['Consolidation', 'Financial consolidation team'],
  ['HR', 'Human resources hierarchy owners'],
  ['Read Only', 'View-only access'],
  ['Requestors', 'May submit metadata requests'],
  ['IT Operations', 'Runs deployments and exports'],
  ['Security Admins', 'Manage users and groups'],
  ['Treasury', 'Treasury hierarchy owners'],
  ['Tax', 'Tax reporting'],
  ['Procurement', 'Supplier and cost center requests'],
  ['Sales Ops', 'Sales hierarchy maintenance'],
  ['Legal', 'Legal entity maintenance'],
  ['Marketing', 'Campaign hierarchy owners'],
];

export const SECONDARY_GROUPS: readonly (readonly [string, string])[] = [
  ['Admin', 'Tenant administrators'],
  ['Approver', 'Approvers for reconciliation changes'],
  ['Planners', 'Budget planners'],
  ['Controllers', 'Regional controllers'],
  ['Viewers', 'Read-only users'],
  ['Integration', 'Service accounts for data loads'],
];

/** Suffixes for group names past the named list (large tenants: 500 groups). */
export const REGIONS: readonly string[] = ['EMEA', 'APAC', 'NA', 'LATAM', 'UK', 'DE', 'FR', 'JP', 'IN', 'AU'];

export const USER_DESCRIPTIONS: readonly string[] = [
  'Finance user',
  'Planning analyst',
  'Metadata administrator',
  'Contractor - access reviewed quarterly',
  'Regional controller',
  'Service account for nightly loads',
  'Consolidation lead',
  'HR hierarchy owner',
];
