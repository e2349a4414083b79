// Filter errors: every failure of the lexer or parser names the 0-based
// character offset and the offending token, so a UI can underline it and the
// CLI can print a caret under it.

export class FilterError extends Error {
  /** 0-based character offset of the offending token in the filter text. */
  readonly offset: number;
  /** The offending token text; "" at the end of the filter. */
  readonly token: string;
  /** What the parser expected there (e.g. "a port number"). */
  readonly expected: string;

  constructor(offset: number, token: string, expected: string) {
    const what = token === "" ? "end of filter" : `"${token}"`;
    super(`filter: unexpected ${what} at ${offset}: expected ${expected}`);
    this.name = "FilterError";
    this.offset = offset;
    this.token = token;
    this.expected = expected;
  }
}

/**
 * Two-line rendering of an error under its filter:
 *
 *     proto tcp and port foo
 *                        ^~~
 */
export function renderFilterError(filter: string, err: FilterError): string {
  // Tabs/newlines would shift the caret; show them as spaces.
  const line = filter.replace(/[\t\r\n]/g, " ");
  const width = Math.max(1, err.token.length);
  return `${line}\n${" ".repeat(err.offset)}^${"~".repeat(width - 1)}`;
}
