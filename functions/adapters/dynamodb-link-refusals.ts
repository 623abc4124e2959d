/**
 * The link-refusal tally on DynamoDB: one item per (scope, minute) in the requests table, id
 * `refusals#<scope>#<minute>`, with one counter attribute per (code, method, source address) and a total,
 * all bumped by UpdateItem `ADD`, which commutes: concurrent attempts never conflict and none is lost, and
 * the request item is never touched. The item carries none of the indexes' keys, so no index sees it. The
 * attempt that opens a window (its total comes back as 1) puts the window's marker on the audit table,
 * write-once at its own seq, which is how a scope's windows are found again.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { LinkRefusal, LinkRefusalCount } from '../application/ports.js';
import { chainEvent } from '../domain/audit-chain.js';
import { linkRefusalStream, linkRefusalWindowSeq } from '../domain/link-refusals.js';
import { type AuditDraft, GENESIS_HASH } from '../domain/types.js';

/** Tally items' id prefix; request ids are base32 and never hold a `#`. */
export const REFUSALS_PREFIX = 'refusals#';
/** Counter attributes: `n|<code>|<method>|<sourceIp>`. */
const COUNTER_PREFIX = 'n|';
/** Windows read back at most per audit view (newest kept): a long flood stays cheap to show. */
export const MAX_WINDOWS_SHOWN = 120;

export function refusalItemId(scope: string, window: string): string {
  return `${REFUSALS_PREFIX}${scope}#${window}`;
}

interface Tables {
  client: DynamoDBDocumentClient;
  requestsTable: string;
  auditTable: string;
}

/** Counts one attempt; puts the window's marker when it is the window's first. */
export async function countLinkRefusal(
  t: Tables,
  refusal: LinkRefusal,
  marker: AuditDraft,
): Promise<{ firstInWindow: boolean }> {
  const key = { id: refusalItemId(refusal.scope, refusal.window) };
  const counter = `${COUNTER_PREFIX}${refusal.code}|${refusal.method}|${refusal.sourceIp}`;
  let total: number;
  try {
    const result = await t.client.send(
      new UpdateCommand({
        TableName: t.requestsTable,
        Key: key,
        UpdateExpression: 'ADD attempts :one, #counter :one SET #scope = :scope, #window = :window',
        ExpressionAttributeNames: {
          '#counter': counter,
          '#scope': 'refusalScope',
          '#window': 'refusalWindow',
        },
        ExpressionAttributeValues: { ':one': 1, ':scope': refusal.scope, ':window': refusal.window },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    total = Number(result.Attributes?.attempts ?? 0);
  } catch (error) {
    // The item is at DynamoDB's 400 KB (thousands of sources in one minute): count it without its source.
    if (!(error instanceof Error && error.name === 'ValidationException')) throw error;
    const result = await t.client.send(
      new UpdateCommand({
        TableName: t.requestsTable,
        Key: key,
        UpdateExpression: 'ADD attempts :one, overflow :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    total = Number(result.Attributes?.attempts ?? 0);
  }
  const firstInWindow = total === 1;
  if (firstInWindow) {
    const event = chainEvent(marker, {
      requestId: linkRefusalStream(refusal.scope),
      seq: linkRefusalWindowSeq(refusal.window),
      prevHash: GENESIS_HASH,
    });
    try {
      await t.client.send(
        new PutCommand({
          TableName: t.auditTable,
          Item: event,
          ConditionExpression: 'attribute_not_exists(requestId)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
  return { firstInWindow };
}

/** The counters of the given windows of a scope (the newest MAX_WINDOWS_SHOWN), oldest first. */
export async function linkRefusalCounts(
  t: Tables,
  scope: string,
  windows: readonly string[],
): Promise<LinkRefusalCount[]> {
  const shown = [...new Set(windows)].sort().slice(-MAX_WINDOWS_SHOWN);
  const items = await Promise.all(
    shown.map(async (window) => {
      const result = await t.client.send(
        new GetCommand({ TableName: t.requestsTable, Key: { id: refusalItemId(scope, window) } }),
      );
      return { window, item: result.Item };
    }),
  );
  const counts: LinkRefusalCount[] = [];
  for (const { window, item } of items) {
    if (!item) continue;
    for (const [name, value] of Object.entries(item)) {
      if (name.startsWith(COUNTER_PREFIX)) {
        const [code = '', method = '', ...ip] = name.slice(COUNTER_PREFIX.length).split('|');
        counts.push({ window, code, method, sourceIp: ip.join('|'), attempts: Number(value) });
      }
    }
    if (typeof item.overflow === 'number') {
      counts.push({ window, code: '*', method: '*', sourceIp: 'overflow', attempts: item.overflow });
    }
  }
  return counts.sort(
    (a, b) =>
      a.window.localeCompare(b.window) ||
      a.code.localeCompare(b.code) ||
      a.method.localeCompare(b.method) ||
      a.sourceIp.localeCompare(b.sourceIp),
  );
}
