// Turns llama-server's /metrics text into plain counters and gauges, keyed by name without the "llamacpp:" prefix.
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { metricsField, validCounter } from "../observe/upstream-values.js";

export interface LlamaMetrics {
  counters: Record<string, number>;
  gauges: Record<string, number>;
  help: Record<string, string>;
  /** Bounded field names of samples left out for a bad value (a negative or non-finite counter, a NaN gauge). */
  invalid: string[];
}

/**
 * llama-server declares n_tokens_max as a counter, but it is a high-water mark, not a running sum:
 * summing it over restarts would be meaningless, so it is kept as a gauge.
 */
const NOT_A_SUM = new Set(["n_tokens_max"]);

function key(name: string, labels: Record<string, string> | undefined): string {
  const short = name.replace(/^llamacpp:/, "");
  const l = Object.entries(labels ?? {});
  return l.length ? `${short}{${l.map(([k, v]) => `${k}="${v}"`).join(",")}}` : short;
}

export function parseLlamaMetrics(text: string): LlamaMetrics {
  const out: LlamaMetrics = { counters: {}, gauges: {}, help: {}, invalid: [] };
  for (const family of parsePrometheusTextFormat(text)) {
    const short = family.name.replace(/^llamacpp:/, "");
    out.help[short] = family.help;
    const isCounter = family.type === "COUNTER" && !NOT_A_SUM.has(short);
    if (family.type !== "COUNTER" && family.type !== "GAUGE" && family.type !== "UNTYPED") continue;
    for (const sample of family.metrics) {
      const value = Number(sample.value);
      if (isCounter ? !validCounter(value) : !Number.isFinite(value)) {
        out.invalid.push(metricsField(short));
        continue;
      }
      (isCounter ? out.counters : out.gauges)[key(family.name, sample.labels)] = value;
    }
  }
  return out;
}
