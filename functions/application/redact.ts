/** Shapes of secrets an error text may carry: URI credentials, key=value secrets, SigV4 query parts, long opaque tokens. */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]*:[^\s/@]*@/gi, '$1***@'],
  [
    /\b(password|passwd|pwd|secret|token|tasktoken|authorization|x-amz-signature|x-amz-credential|x-amz-security-token)(["']?\s*[=:]\s*["']?)[^\s"'&,;}]+/gi,
    '$1$2***',
  ],
  [/[A-Za-z0-9+/_=-]{40,}/g, '***'],
];

/** An error text safe to store and log: likely secrets masked, control characters dropped, bounded length. */
export function redactErrorText(text: string, maxLength = 300): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  return out.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, maxLength);
}
