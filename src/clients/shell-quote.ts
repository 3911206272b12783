// Single quotes for a POSIX shell, with any single quote inside closed, escaped and reopened: $ and ` stay literal.
export const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
