#!/usr/bin/env -S node --max-semi-space-size=4
// (A 4 MB young generation keeps resident memory about 10 MB lower under hundreds of streams, at no measurable cost.)
// Command-line entry: `llama-sidecar [settings]` serves; `llama-sidecar claude|env|statusline` sets clients up;
// `llama-sidecar sessions|session|export` read the request log.
// Each loads only what it needs: a status line must answer in well under 100 ms, before a server's modules load.
import { CLIENT_COMMANDS } from "./clients/command-names.js";

/** What reads the request log on disk: `sessions`, `session <id|last>`, `export`. */
const LOG_COMMANDS = new Set(["sessions", "session", "export"]);

const [first, ...rest] = process.argv.slice(2);
const run: Promise<number> =
  first !== undefined && CLIENT_COMMANDS.has(first)
    ? import("./clients/commands.js").then((m) => m.runClientCommand(first, rest))
    : first !== undefined && LOG_COMMANDS.has(first)
      ? import("./log/commands.js").then((m) => m.runLogCommand(first, rest))
      : import("./main.js").then((m) => m.main());

run.then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`llama-sidecar: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
