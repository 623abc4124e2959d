import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { logger, powertoolsMetrics } from '../../functions/shared/powertools.js';

describe('the Lambda Powertools metrics instance', () => {
  afterEach(() => vi.restoreAllMocks());

  it('does not log a warning for an invocation that counted nothing (a refused link, a page view)', () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const written: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    };
    // Powertools writes through its own Console: catch it at the streams.
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    powertoolsMetrics.publishStoredMetrics();
    vi.restoreAllMocks();
    expect(warn).not.toHaveBeenCalled();
    expect(written.join('')).not.toContain('No application metrics');
  });

  it('still publishes what was counted', () => {
    const lines: string[] = [];
    vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    powertoolsMetrics.addMetric('LinkRefused', MetricUnit.Count, 1);
    powertoolsMetrics.publishStoredMetrics();
    write.mockRestore();
    expect(lines.join('')).toContain('"LinkRefused"');
  });
});
