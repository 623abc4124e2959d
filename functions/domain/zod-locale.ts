/**
 * zod/mini loads no locale: without one every issue reads "Invalid input". Every schema module imports this
 * file so the messages users see are set before anything is parsed. The common issues get plain messages
 * here (`is required`, `must be one of: postgres, mysql`, `must have at least 1 item`), written to follow a
 * path (`targets[0].engine: must be one of: postgres, mysql`); the rest fall back to zod's English locale.
 * Only `en` is imported, by its own path, so the other locales stay out of the Lambda bundles. No message
 * repeats the input: API errors never echo what was sent.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

type Issue = z.core.$ZodRawIssue;

const ARTICLE: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object (key: value pairs)',
  record: 'an object (key: value pairs)',
};

function plainValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function count(n: number | bigint, one: string, many: string): string {
  return `${n} ${n === 1 || n === 1n ? one : many}`;
}

/** The plain message for an issue, or undefined to use the English locale's. */
export function humanMessage(issue: Issue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${ARTICLE[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      if (issue.values.length === 1) return `must be ${plainValue(issue.values[0])}`;
      return `must be one of: ${issue.values.map(plainValue).join(', ')}`;
    case 'too_small': {
      const bound = issue.exact ? 'exactly' : issue.inclusive ? 'at least' : 'more than';
      if (issue.origin === 'string')
        return issue.minimum === 1 && issue.inclusive
          ? 'must not be empty'
          : `must have ${bound} ${count(issue.minimum, 'character', 'characters')}`;
      if (issue.origin === 'array' || issue.origin === 'set')
        return `must have ${bound} ${count(issue.minimum, 'item', 'items')}`;
      return `must be ${issue.inclusive ? '≥' : '>'} ${issue.minimum}`;
    }
    case 'too_big': {
      const bound = issue.exact ? 'exactly' : issue.inclusive ? 'at most' : 'fewer than';
      if (issue.origin === 'string')
        return `must have ${bound} ${count(issue.maximum, 'character', 'characters')}`;
      if (issue.origin === 'array' || issue.origin === 'set')
        return `must have ${bound} ${count(issue.maximum, 'item', 'items')}`;
      return `must be ${issue.inclusive ? '≤' : '<'} ${issue.maximum}`;
    }
    case 'invalid_union':
      return issue.input === undefined ? 'is required' : 'does not match any of the allowed forms';
    default:
      return undefined;
  }
}

z.config(en());
z.config({ customError: humanMessage });
