// The process logger: pretty lines for a person at a terminal, JSON lines for everything else.
import { createRequire } from "node:module";
import { type Logger, pino } from "pino";
import type pretty from "pino-pretty";
import type { Config } from "./config/load.js";

export function createLogger(config: Pick<Config, "logLevel" | "logFormat">, stream = process.stderr): Logger {
  const usePretty = config.logFormat === "pretty" || (config.logFormat === "auto" && stream.isTTY === true);
  const options = { level: config.logLevel, base: undefined };
  if (!usePretty) return pino(options, stream);
  // Loaded only for a person's terminal: a service logging JSON lines never holds the formatter in memory.
  const prettyStream = createRequire(import.meta.url)("pino-pretty") as typeof pretty;
  return pino(
    options,
    prettyStream({ destination: stream, colorize: stream.isTTY, ignore: "pid,hostname", sync: true }),
  );
}
