// Reports numbers from llama-server that failed their check: counted every time, logged once per field.
import type { Logger } from "pino";
import type { Counter } from "prom-client";

/** `field` is a bounded name ("timings.prompt_n", "metrics.prompt_tokens_total"); `where` says what sent it. */
export type ReportInvalid = (field: string, where: string) => void;

export function invalidValueReporter(counter: Counter<"field">, logger: Logger): ReportInvalid {
  const logged = new Set<string>();
  return (field, where) => {
    counter.inc({ field });
    if (logged.has(field)) return;
    logged.add(field);
    logger.warn(
      { field, where },
      `llama-server sent an invalid value for ${field}: left out of every total (counted in llama_sidecar_upstream_invalid_values_total; logged once)`,
    );
  };
}
