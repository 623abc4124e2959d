/**
 * `jitdb connect <target>` looks for the caller's grant among their requests: it must ask for each status it
 * can reuse and follow every page, or an ACTIVE grant past the first page of a busy requester's history would
 * be missed and a second request filed.
 */
import { describe, expect, it } from 'vitest';
import type { ApiClient, Query } from '../../cli/client.js';
import type { CommandContext } from '../../cli/command.js';
import { myRequests, type RequestView } from '../../cli/commands/requests.js';

describe('myRequests', () => {
  it('asks for each status and follows the cursor to the last page', async () => {
    const asked: Query[] = [];
    const pages: Record<string, { items: RequestView[]; cursor?: string }> = {
      'ACTIVE:': { items: [{ id: 'a1', status: 'ACTIVE' }], cursor: 'next' },
      'ACTIVE:next': { items: [{ id: 'a2', status: 'ACTIVE' }] },
      'PENDING:': { items: [{ id: 'p1', status: 'PENDING' }] },
    };
    const client = {
      get: async (path: string, query: Query = {}) => {
        expect(path).toBe('/requests');
        asked.push(query);
        return pages[`${query.status}:${query.cursor ?? ''}`] ?? { items: [] };
      },
    } as unknown as ApiClient;
    const context = { client } as CommandContext;
    const found = await myRequests(context, ['ACTIVE', 'PENDING', 'APPROVED']);
    expect(found.map((r) => r.id)).toEqual(['a1', 'a2', 'p1']);
    expect(asked).toEqual([
      { status: 'ACTIVE', limit: '100' },
      { status: 'ACTIVE', limit: '100', cursor: 'next' },
      { status: 'PENDING', limit: '100' },
      { status: 'APPROVED', limit: '100' },
    ]);
  });
});
