import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { SesMailer } from '../../functions/adapters/ses-mailer.js';

const ses = mockClient(SESv2Client);

afterEach(() => ses.reset());

describe('SES mailer', () => {
  it('sends one SendEmail with the text and HTML bodies in UTF-8', async () => {
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
    await new SesMailer(new SESv2Client({ region: 'eu-west-1' }), 'jitdb@example.com').send({
      to: ['bob@example.com'],
      subject: 'Approve access: erin → orders-db (read)',
      text: 'plain',
      html: '<p>html</p>',
    });
    expect(ses.commandCalls(SendEmailCommand).map((c) => c.args[0].input)).toEqual([
      {
        FromEmailAddress: 'jitdb@example.com',
        Destination: { ToAddresses: ['bob@example.com'] },
        Content: {
          Simple: {
            Subject: { Data: 'Approve access: erin → orders-db (read)', Charset: 'UTF-8' },
            Body: {
              Text: { Data: 'plain', Charset: 'UTF-8' },
              Html: { Data: '<p>html</p>', Charset: 'UTF-8' },
            },
          },
        },
      },
    ]);
  });

  it('sends nothing for an empty recipient list', async () => {
    await new SesMailer(new SESv2Client({ region: 'eu-west-1' }), 'jitdb@example.com').send({
      to: [],
      subject: 's',
      text: 't',
      html: 'h',
    });
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(0);
  });
});
