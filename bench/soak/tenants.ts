/**
 * The soak's two tenants from the simulator: the primary one (the fixtures' names and tasks) and the secondary
 * one (its own catalog), each with the users only it has, so that one seen in the other's answer is a leak.
 */
import { SECONDARY_CATALOG } from '../../src/simulator/catalog.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import type { Tenant } from './tenant.ts';

function userNames(sim: Simulator, token: string): Set<string> {
  return new Set(
    sim
      .state(token)
      .users()
      .map((user) => user.userName.toLowerCase()),
  );
}

const only = (a: Set<string>, b: Set<string>) => new Set([...a].filter((name) => !b.has(name)));

export function soakTenants(sim: Simulator): [Tenant, Tenant] {
  const { primary, secondary } = sim.tokens;
  const primaryUsers = userNames(sim, primary);
  const secondaryUsers = userNames(sim, secondary);
  const { fixtures } = sim;
  return [
    {
      name: 'primary',
      token: primary,
      ownUsers: [...only(primaryUsers, secondaryUsers)],
      foreignUsers: only(secondaryUsers, primaryUsers),
      deploymentNames: fixtures.deploymentNames,
      exportNames: fixtures.exportNames,
      erpConfigName: fixtures.erpConfigNames[0] ?? 'none',
      tasks: [fixtures.succeededTaskId],
      exportTasks: [fixtures.exportTaskId],
    },
    {
      name: 'secondary',
      token: secondary,
      ownUsers: [...only(secondaryUsers, primaryUsers)],
      foreignUsers: only(primaryUsers, secondaryUsers),
      deploymentNames: SECONDARY_CATALOG.deployments.map((each) => each.name),
      exportNames: SECONDARY_CATALOG.exportProfiles.map((each) => each.name),
      erpConfigName: SECONDARY_CATALOG.erp[0]?.name ?? 'none',
      tasks: [],
      exportTasks: [],
    },
  ];
}
