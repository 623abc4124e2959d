import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { CAROL_READ, demoPolicyYaml, fileLocalRequest, testRuntimeOptions } from '../support/runtime.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`skipping the browser approval test: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);

describe.skipIf(!hasChromium)('approving from the outbox in a browser', () => {
  const suffix = randomBytes(4).toString('hex');
  let workDir: string;
  let runtime: Runtime | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'jitdb-browser-'));
    const policyFile = path.join(workDir, 'policy.yaml');
    writeFileSync(policyFile, demoPolicyYaml(`demo_browser_${suffix}`, { read: CAROL_READ }));
    [runtime, browser] = await Promise.all([
      startRuntime(
        testRuntimeOptions(policyFile, {
          tablePrefix: `browser-${suffix}`,
          demoDatabase: `demo_browser_${suffix}`,
        }),
      ),
      chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      }),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await runtime?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('opens /outbox, follows the approval link, sees the facts, approves and sees the result', async () => {
    if (!runtime || !browser) throw new Error('setup failed');
    const id = await fileLocalRequest(runtime.url, 'alice@example.com', {
      target: 'demo',
      level: 'read',
      duration: '20m',
      reason: 'check refund of order 104',
    });
    await runtime.outbox.waitFor((e) => e.text.includes(id));

    const page = await browser.newPage();
    await page.goto(`${runtime.url}/outbox`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Outbox');
    await page
      .getByRole('link', { name: /Review and decide/ })
      .first()
      .click();

    await expect(page.locator('body').textContent()).resolves.toContain('check refund of order 104');
    await expect(page.locator('body').textContent()).resolves.toContain('alice@example.com');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForLoadState('load');
    await expect(page.locator('body').textContent()).resolves.toContain(
      'Your approval was recorded. The request is now APPROVED.',
    );

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/approval.png', fullPage: true });

    const after = await fetch(`${runtime.url}/requests/${id}`, {
      headers: { 'x-jitdb-user': 'alice@example.com' },
    });
    const body = (await after.json()) as { status: string; approvals: { by: string; via: string }[] };
    expect(['APPROVED', 'ACTIVE']).toContain(body.status);
    expect(body.approvals.map((a) => [a.by, a.via])).toEqual([['carol@example.com', 'approval-link']]);
  });
});
