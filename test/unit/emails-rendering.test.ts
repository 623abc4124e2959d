import { describe, expect, it } from 'vitest';
import { approvalRequestEmail } from '../../functions/views/emails.js';
import { confirmationPage } from '../../functions/views/pages.js';
import { escapeHtml } from '../../functions/views/render.js';
import { freshRequest } from './support/domain-fixtures.js';

const target = { id: 'orders-db', environment: 'production', engine: 'postgres' as const };
const hostile = freshRequest({ reason: '<script>alert(1)</script> "quoted" & \u202eevil', ticket: 'INC-1' });

describe('email rendering', () => {
  it('names requester, target, level, duration, reason and ticket with the approver link', () => {
    const email = approvalRequestEmail(
      { request: freshRequest({ ticket: 'INC-7' }), target },
      { to: 'bob@example.com', link: 'https://api.example.com/approvals/tok' },
    );
    expect(email.to).toEqual(['bob@example.com']);
    expect(email.subject).toBe('Approve access: erin@example.com → orders-db (read)');
    for (const part of [
      'erin@example.com',
      'orders-db',
      'Level: read',
      'Duration: 1h',
      'Reason: investigate INC-1',
      'Ticket: INC-7',
    ]) {
      expect(email.text).toContain(part);
    }
    expect(email.text).toContain('https://api.example.com/approvals/tok');
    expect(email.html).toContain('href="https://api.example.com/approvals/tok"');
  });

  it('tells approvers a use-once request admits one session', () => {
    const facts = { request: freshRequest({ once: true }), target };
    expect(facts.request.once).toEqual({});
    const email = approvalRequestEmail(facts, {
      to: 'bob@example.com',
      link: 'https://api.example.com/approvals/t',
    });
    expect(email.text).toContain('Use-once: one database session, revoked when it ends');
    const plain = approvalRequestEmail(
      { request: freshRequest(), target },
      { to: 'bob@example.com', link: 'https://api.example.com/approvals/t' },
    );
    expect(plain.text).not.toContain('Use-once');
  });

  it('names a statement request in the subject: what approvers approve is SQL that runs once', () => {
    const email = approvalRequestEmail(
      { request: { ...freshRequest(), statements: ['SELECT 1', 'UPDATE orders SET x = 1'] }, target },
      { to: 'bob@example.com', link: 'https://api.example.com/approvals/tok' },
    );
    expect(email.subject).toBe('Approve SQL to run once (2 statements): erin@example.com → orders-db (read)');
  });

  it("asks for an extension in words: 'Approve more time (+30m)', not 'Approve extend access'", () => {
    const extension = {
      id: 'ext-1',
      durationSeconds: 1800,
      reason: 'the migration is slow',
      requestedBy: 'erin@example.com',
      requestedAt: '2026-11-23T10:30:00.000Z',
      approvalsRequired: 1,
      approvals: [],
      newExpiresAt: '2026-11-23T11:30:00.000Z',
    };
    const email = approvalRequestEmail(
      { request: freshRequest(), target },
      { to: 'bob@example.com', link: 'https://api.example.com/approvals/tok', extension },
    );
    expect(email.subject).toBe('Approve more time (+30m): erin@example.com → orders-db (read)');
  });

  it('escapes every user-supplied value in HTML and neutralises bidi overrides', () => {
    const email = approvalRequestEmail(
      { request: hostile, target },
      { to: 'bob@example.com', link: 'https://x/a?b=1&c=2' },
    );
    expect(email.html).not.toContain('<script>');
    expect(email.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; \ufffdevil');
    expect(email.html).toContain('href="https://x/a?b=1&amp;c=2"');
    expect(email.text).not.toContain('\u202e');
  });

  it('renders a confirmation page whose form posts the decision with the CSRF value', () => {
    const html = confirmationPage(
      { request: hostile, target },
      {
        approver: 'bob@example.com',
        actionUrl: 'tok"en',
        csrf: 'c<s>rf',
        expiresAt: '2025-03-01T11:00:00.000Z',
      },
    );
    expect(html).toContain('<form method="post" action="tok&quot;en">');
    expect(html).toContain('<input type="hidden" name="csrf" value="c&lt;s&gt;rf">');
    expect(html).toContain('name="decision" value="approve"');
    expect(html).toContain('name="decision" value="deny"');
    expect(html).not.toContain('<script>');
  });

  it('escapes the five HTML metacharacters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
