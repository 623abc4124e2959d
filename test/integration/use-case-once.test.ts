import { describe, expect, it } from 'vitest';
import { createRequest } from '../../functions/application/create-request.js';
import { fetchCredentials } from '../../functions/application/fetch-credentials.js';
import { createHandler as sweeperHandler } from '../../functions/handlers/expiry-sweeper.js';
import { createHandler as grantHandler } from '../../functions/handlers/grant.js';
import { createHandler as revokeHandler } from '../../functions/handlers/revoke.js';
import { openSession } from '../support/client-session.js';
import { lambdaContext as context, ERIN, useOrdersSystem } from '../support/deps.js';

/** Use-once grants at the use cases: the sweeper's revoke racing itself and the workflow's revoke. */

const { sys } = useOrdersSystem('uc-once', 'uconce');

const sweep = () => sweeperHandler(sys().deps)({ reconcile: 'never' }, context);

/** ERIN's use-once request for `quick` on orders, granted; its id. */
async function grantedOnce(reason: string): Promise<string> {
  const body = { target: 'orders', level: 'quick', duration: '20m', reason, ticket: 'INC-7', once: true };
  const { request } = await createRequest({ body, caller: ERIN }, sys().deps);
  await grantHandler(sys().deps)({ requestId: request.id }, context);
  return request.id;
}

/** A use-once grant whose one session has come and gone. */
async function usedOnceGrant(): Promise<string> {
  const requestId = await grantedOnce('one look');
  const credentials = await fetchCredentials({ requestId, caller: ERIN }, sys().deps);
  const session = await openSession(credentials);
  await session.end();
  return requestId;
}

describe('use-once revoke races', () => {
  it('revokes once when two sweeps and the workflow revoke race: one revoked event, the chain intact', async () => {
    const id = await usedOnceGrant();
    await Promise.all([
      sweep(),
      sweep(),
      revokeHandler(sys().deps)({ requestId: id, reason: 'expired' }, context),
    ]);
    const request = await sys().deps.requests.get(id);
    expect(request?.status).toBe('REVOKED');
    const actions = (await sys().deps.audit.list(id)).map((e) => e.action);
    expect(actions.filter((a) => a === 'revoked')).toHaveLength(1);
    expect(actions.filter((a) => a === 'session-used').length).toBeLessThanOrEqual(1);
    expect((await sys().deps.audit.verify(id)).ok).toBe(true);
    // A later sweep finds nothing to do.
    expect(await sweep()).toMatchObject({ onceRevoked: 0, revoked: 0, errors: 0 });
  });

  it('leaves a use-once grant nobody used ACTIVE, sweep after sweep', async () => {
    const id = await grantedOnce('later');
    await sweep();
    await sweep();
    const stored = await sys().deps.requests.get(id);
    expect(stored).toMatchObject({ status: 'ACTIVE', once: {} });
  });
});
