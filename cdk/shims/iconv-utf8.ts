/**
 * Stands in for `iconv-lite` (~480 KB of code pages) in Lambda bundles. mysql2 asks iconv only for
 * encodings Node's Buffer lacks; we always connect with utf8mb4, whose text arrives as utf8, and the only
 * other one a MariaDB/MySQL server sends then is cesu8 (utf8mb3 metadata), which has no 4-byte characters
 * and so decodes as UTF-8. Anything else fails loudly instead of garbling.
 */

const UTF8_ALIASES = new Set(['utf8', 'utf-8', 'cesu8', 'cesu-8', 'utf8mb3', 'utf8mb4']);

export class UnsupportedEncodingError extends Error {
  readonly code = 'UNSUPPORTED_ENCODING';

  constructor(encoding: string) {
    super(`encoding ${encoding} is not bundled (jit-db-access talks utf8mb4 only)`);
    this.name = 'UnsupportedEncodingError';
  }
}

function utf8Only(encoding: string): void {
  if (!UTF8_ALIASES.has(encoding.toLowerCase())) throw new UnsupportedEncodingError(encoding);
}

export function encodingExists(encoding: string): boolean {
  return UTF8_ALIASES.has(encoding.toLowerCase());
}

export function getDecoder(encoding: string): { write(buffer: Buffer): string; end(): string | undefined } {
  utf8Only(encoding);
  const decoder = new TextDecoder('utf-8');
  return {
    write: (buffer) => decoder.decode(buffer, { stream: true }),
    end: () => decoder.decode() || undefined,
  };
}

export function getEncoder(encoding: string): { write(text: string): Buffer; end(): Buffer | undefined } {
  utf8Only(encoding);
  return { write: (text) => Buffer.from(text, 'utf8'), end: () => undefined };
}

export function decode(buffer: Buffer, encoding: string): string {
  utf8Only(encoding);
  return buffer.toString('utf8');
}

export function encode(text: string, encoding: string): Buffer {
  utf8Only(encoding);
  return Buffer.from(text, 'utf8');
}

export default { encodingExists, getDecoder, getEncoder, decode, encode };
