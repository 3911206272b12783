// The client commands' names: all the entry point loads before it knows what to run.
export const CLIENT_COMMANDS: ReadonlySet<string> = new Set(["claude", "env", "statusline"]);
