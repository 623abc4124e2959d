import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SesMailer } from '../../functions/adapters/ses-mailer.js';
import type { Email, Mailer } from '../../functions/application/ports.js';
import { OutboxMailer } from '../../local/outbox.js';

/**
 * The Mailer port's contract, run against the local outbox and the SES v2 adapter (a mocked client, each
 * SendEmail request asserted exactly). Not in the contract, because the two differ: an empty recipient list
 * sends nothing through SES (ses-mailer.test.ts) while the outbox still records the email.
 */

interface MailerSubject {
  mailer: Mailer;
  /** What reached the recipients' side, in order, as the port's Email. */
  delivered(): Email[];
  restore(): void;
}

const FROM = 'jitdb@example.com';

function outbox(): MailerSubject {
  const mailer = new OutboxMailer({ print: false });
  return {
    mailer,
    delivered: () =>
      mailer
        .list()
        .reverse()
        .map(({ to, subject, text, html }) => ({ to, subject, text, html })),
    restore: () => undefined,
  };
}

function ses(): MailerSubject {
  const client = mockClient(SESv2Client);
  client.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
  return {
    mailer: new SesMailer(new SESv2Client({ region: 'eu-west-1' }), FROM),
    delivered: () =>
      client.commandCalls(SendEmailCommand).map((call) => {
        const input = call.args[0].input;
        // The exact request: from the configured sender, every part UTF-8, nothing else set.
        expect(input).toEqual({
          FromEmailAddress: FROM,
          Destination: { ToAddresses: expect.any(Array) },
          Content: {
            Simple: {
              Subject: { Data: expect.any(String), Charset: 'UTF-8' },
              Body: {
                Text: { Data: expect.any(String), Charset: 'UTF-8' },
                Html: { Data: expect.any(String), Charset: 'UTF-8' },
              },
            },
          },
        });
        const simple = input.Content?.Simple;
        return {
          to: input.Destination?.ToAddresses ?? [],
          subject: simple?.Subject?.Data ?? '',
          text: simple?.Body?.Text?.Data ?? '',
          html: simple?.Body?.Html?.Data ?? '',
        };
      }),
    restore: () => client.restore(),
  };
}

const APPROVAL: Email = {
  to: ['bob@example.com', 'carol@example.com'],
  subject: 'Approve access: erin → orders-db (read)',
  text: 'Erin asks for read on orders-db for 1h: “incident 42”.\nhttps://jitdb.example.com/approvals/abc?x=1&y=2',
  html: '<p>Erin asks for <b>read</b> on orders-db &amp; “incident 42”.</p><a href="https://jitdb.example.com/approvals/abc?x=1&amp;y=2">Approve</a>',
};
const RESULT: Email = {
  to: ['erin@example.com'],
  subject: 'Access granted: orders-db (read)',
  text: 'Granted until 12:00 UTC.',
  html: '<p>Granted until 12:00 UTC.</p>',
};

describe.each([
  { name: 'OutboxMailer', make: outbox },
  { name: 'SesMailer', make: ses },
])('$name: the Mailer contract', ({ make }) => {
  let subject: MailerSubject;
  beforeEach(() => {
    subject = make();
  });
  afterEach(() => subject.restore());

  it('delivers recipients, subject, text and HTML exactly as given (non-ASCII, markup and links intact)', async () => {
    await subject.mailer.send(APPROVAL);
    expect(subject.delivered()).toEqual([APPROVAL]);
  });

  it('delivers each email once, in the order sent', async () => {
    await subject.mailer.send(APPROVAL);
    await subject.mailer.send(RESULT);
    expect(subject.delivered()).toEqual([APPROVAL, RESULT]);
  });
});
