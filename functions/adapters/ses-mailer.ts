import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { Email, Mailer } from '../application/ports.js';

/** Mail through SES v2: one SendEmail per message, HTML and text bodies, UTF-8 throughout. */
export class SesMailer implements Mailer {
  constructor(
    private readonly client: SESv2Client,
    private readonly from: string,
    private readonly options: { configurationSetName?: string } = {},
  ) {}

  async send(email: Email): Promise<void> {
    if (email.to.length === 0) return;
    await this.client.send(
      new SendEmailCommand({
        FromEmailAddress: this.from,
        Destination: { ToAddresses: email.to },
        Content: {
          Simple: {
            Subject: { Data: email.subject, Charset: 'UTF-8' },
            Body: {
              Text: { Data: email.text, Charset: 'UTF-8' },
              Html: { Data: email.html, Charset: 'UTF-8' },
            },
          },
        },
        ...(this.options.configurationSetName
          ? { ConfigurationSetName: this.options.configurationSetName }
          : {}),
      }),
    );
  }
}

/** A mailer sending from `from` with its own SES v2 client in `region` (the Lambda wiring's entry point). */
export function sesMailer(from: string, region: string | undefined): SesMailer {
  return new SesMailer(new SESv2Client(region ? { region } : {}), from);
}
