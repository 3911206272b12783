// The process logger: pretty lines for a person at a terminal, JSON lines for everything else.
import { type Logger, pino } from "pino";
import pretty from "pino-pretty";
import type { Config } from "./config/load.js";

export function createLogger(config: Pick<Config, "logLevel" | "logFormat">, stream = process.stderr): Logger {
  const usePretty = config.logFormat === "pretty" || (config.logFormat === "auto" && stream.isTTY === true);
  const options = { level: config.logLevel, base: undefined };
  if (!usePretty) return pino(options, stream);
  return pino(options, pretty({ destination: stream, colorize: stream.isTTY, ignore: "pid,hostname", sync: true }));
}
