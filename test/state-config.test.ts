/**
 * The shared-state variables at start-up, as a process: a bad REDIS_URL, REDIS_KEY_PREFIX or GATEWAY_INSTANCES
 * stops it with one line naming the variable (never echoing a URL that may hold a password) and a non-zero exit.
 * Their own file (not config.test.ts's list): three more processes there pushed that test past its timeout on a
 * loaded machine.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { runUntilExit } from './gateway-process.ts';

const BAD_VALUES: Array<[variable: string, value: string]> = [
  ['REDIS_URL', 'http://user:secret-password@127.0.0.1:6379'],
  ['REDIS_KEY_PREFIX', 'two words'],
  ['GATEWAY_INSTANCES', '0'],
];

describe('shared-state configuration', () => {
  it('a bad value of each variable stops start-up with one line naming it and a non-zero exit', async () => {
    const exits = await Promise.all(
      BAD_VALUES.map(([variable, value]) => runUntilExit({ [variable]: value })),
    );
    exits.forEach((exit, i) => {
      const variable = BAD_VALUES[i]?.[0] ?? '';
      expect(exit.code, variable).not.toBe(0);
      expect(exit.code, variable).not.toBeNull();
      const lines = exit.stderr.trim().split('\n');
      expect(lines, `${variable}: ${exit.stderr}`).toHaveLength(1);
      expect(lines[0]).toContain(variable);
      expect(exit.stderr).not.toContain('secret-password');
      expect(exit.stdout, variable).not.toContain('GraphiQL at');
    });
  }, 60_000);

  it('defaults: no Redis, the documented prefix, one instance; rediss: URLs are accepted', () => {
    const defaults = loadConfig({});
    expect(defaults.redisUrl).toBeNull();
    expect(defaults.redisKeyPrefix).toBe('epmware-gateway:');
    expect(defaults.gatewayInstances).toBe(1);
    const set = loadConfig({
      REDIS_URL: 'rediss://cache.example.com:6380/2',
      REDIS_KEY_PREFIX: 'team-a:',
      GATEWAY_INSTANCES: '3',
    });
    expect(set.redisUrl?.href).toBe('rediss://cache.example.com:6380/2');
    expect(set.redisKeyPrefix).toBe('team-a:');
    expect(set.gatewayInstances).toBe(3);
  });
});
