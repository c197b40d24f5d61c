// The security module: users, groups and memberships. Names match case-insensitively everywhere; a change
// is visible to every later read because all endpoints read the same Tenant maps.
import { upstreamDate } from './catalog.ts';
import type { RequestContext } from './http.ts';
import {
  badRequest,
  conflict,
  jsonObject,
  notFound,
  optionalString,
  requireQuery,
  requireString,
  sendJson,
} from './http.ts';
import type {
  UpstreamCreatedUser,
  UpstreamGroupUsers,
  UpstreamUpdatedUser,
  UpstreamUser,
  UpstreamUserGroups,
  UpstreamValueMessage,
} from './types.ts';

const DEFAULT_PAGE_SIZE = 10_000;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function checkEmail(email: string): void {
  if (!EMAIL.test(email)) throw badRequest(`Field 'email' must be a valid email address, got '${email}'`);
}

function userOr404(ctx: RequestContext, userName: string) {
  const record = ctx.tenant.findUser(userName);
  if (!record) throw notFound(`User '${userName}' not found`);
  return record;
}

export function listUsers(ctx: RequestContext): void {
  const userType = ctx.query.get('userType');
  if (userType !== null && userType !== 'NATIVE' && userType !== 'SAML') {
    throw badRequest("Query parameter 'userType' must be NATIVE or SAML");
  }
  const pageSizeText = ctx.query.get('pageSize');
  let pageSize = DEFAULT_PAGE_SIZE;
  if (pageSizeText !== null) {
    pageSize = /^\d+$/.test(pageSizeText) ? Number(pageSizeText) : 0;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
      throw badRequest("Query parameter 'pageSize' must be a positive integer");
    }
  }
  const users: UpstreamUser[] = [];
  for (const { user } of ctx.tenant.users.values()) {
    if (users.length >= pageSize) break;
    if (userType === null || user.userType === userType) users.push(user);
  }
  sendJson(ctx, 200, users);
}

export function listGroups(ctx: RequestContext): void {
  sendJson(ctx, 200, [...ctx.tenant.groups.values()]);
}

export function userGroups(ctx: RequestContext): void {
  const userName = requireQuery(ctx, 'userName');
  const record = userOr404(ctx, userName);
  const answer: UpstreamUserGroups = {
    userName: record.user.userName.toUpperCase(),
    groups: ctx.tenant.groupsOfUser(record.user.userName),
  };
  sendJson(ctx, 200, answer);
}

export function groupUsers(ctx: RequestContext): void {
  const groupName = ctx.query.get('groupName');
  if (groupName !== null && groupName.trim() !== '') {
    const group = ctx.tenant.findGroup(groupName);
    if (!group) throw notFound(`Group '${groupName}' not found`);
    const answer: UpstreamGroupUsers[] = [{ groupName: group.name, users: ctx.tenant.membersOf(group.name) }];
    sendJson(ctx, 200, answer);
    return;
  }
  const answer: UpstreamGroupUsers[] = [...ctx.tenant.groups.values()].map((g) => ({
    groupName: g.name,
    users: ctx.tenant.membersOf(g.name),
  }));
  sendJson(ctx, 200, answer);
}

export function createSsoUser(ctx: RequestContext): void {
  const body = jsonObject(ctx);
  const userName = requireString(body, 'userName');
  const firstName = requireString(body, 'firstName');
  const email = requireString(body, 'email');
  checkEmail(email);
  const lastName = optionalString(body, 'lastName');
  const description = optionalString(body, 'description');
  if (ctx.tenant.findUser(userName)) throw conflict(`User '${userName}' already exists`);
  const user: UpstreamUser = {
    userName,
    firstName,
    lastName: lastName ?? null,
    email,
    enable: 'Y',
    userType: 'SAML',
  };
  if (description !== undefined) user.description = description;
  const record = ctx.tenant.addUser(user);
  const answer: UpstreamCreatedUser = { id: record.id, userName, email, enable: 'Y' };
  sendJson(ctx, 200, answer);
}

export function updateSsoUser(ctx: RequestContext): void {
  const body = jsonObject(ctx, true);
  const changes = {
    firstName: optionalString(body, 'firstName'),
    lastName: optionalString(body, 'lastName'),
    email: optionalString(body, 'email'),
    description: optionalString(body, 'description'),
  };
  if (changes.email !== undefined) checkEmail(changes.email);
  const record = userOr404(ctx, ctx.params.username ?? '');
  const user = record.user;
  if (changes.firstName !== undefined) user.firstName = changes.firstName;
  if (changes.lastName !== undefined) user.lastName = changes.lastName;
  if (changes.email !== undefined) user.email = changes.email;
  if (changes.description !== undefined) user.description = changes.description;
  const answer: UpstreamUpdatedUser = {
    id: record.id,
    userName: user.userName,
    updateDate: upstreamDate(ctx.sim.now()),
  };
  sendJson(ctx, 200, answer);
}

export function setUserEnabled(enable: boolean) {
  return (ctx: RequestContext): void => {
    const record = userOr404(ctx, ctx.params.username ?? '');
    record.user.enable = enable ? 'Y' : 'N';
    const answer: UpstreamValueMessage = {
      value: enable ? 'User status enabled successfully' : 'User status disabled successfully',
    };
    sendJson(ctx, 200, answer);
  };
}

export function changeGroups(assign: boolean) {
  return (ctx: RequestContext): void => {
    const body = jsonObject(ctx);
    const userName = requireString(body, 'userName');
    const groupNames = body.groupNames;
    if (
      !Array.isArray(groupNames) ||
      groupNames.length === 0 ||
      !groupNames.every((g): g is string => typeof g === 'string' && g.trim() !== '')
    ) {
      throw badRequest("Field 'groupNames' must be a non-empty array of group names");
    }
    const record = userOr404(ctx, userName);
    // All or nothing: one unknown group rejects the whole request before anything changes.
    for (const name of groupNames) {
      if (!ctx.tenant.findGroup(name)) throw notFound(`Group '${name}' not found`);
    }
    if (assign) ctx.tenant.assign(record.user.userName, groupNames);
    else ctx.tenant.unassign(record.user.userName, groupNames);
    const answer: UpstreamValueMessage = {
      value: assign
        ? 'User successfully assigned to the specified groups'
        : 'User successfully removed from the specified groups',
    };
    sendJson(ctx, 200, answer);
  };
}
