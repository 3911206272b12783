// A GPU read over HTTP, for an upstream on another box: a DCGM exporter's /metrics, or `macmon serve`'s /metrics
// or /json. What the page holds says which it is.
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Agent, request } from "../undici-agent.js";
import { isDcgm, parseDcgm } from "./dcgm.js";
import { isMacmon, parseMacmon, parseMacmonMetrics } from "./macmon.js";
import type { GpuReading } from "./reading.js";
import type { GpuSource } from "./sources.js";

/** Gives a URL's body as text (rejects on a failure or a status other than 200). */
export type FetchText = (url: string) => Promise<string>;

/** More than any exporter's page for a few GPUs: a page this big is not one. */
const MAX_BYTES = 4 << 20;
const TIMEOUT_MS = 3000;

/** The pool GPU pages are read through, made at the first read: most sidecars read none. */
let pages: InstanceType<typeof Agent> | undefined;

export const fetchGpuPage: FetchText = async (url) => {
  const target = new URL(url);
  pages ??= new Agent({ headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  const { statusCode, body } = await request(pages, {
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
    method: "GET",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (statusCode !== 200) {
    await body.dump();
    throw new Error(`${url} answered ${statusCode}`);
  }
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_BYTES) {
      body.destroy();
      throw new Error(`${url} gave more than ${MAX_BYTES >> 20} MiB`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
};

/** The readings in a GPU page: macmon's JSON, or the Prometheus text of DCGM's exporter or of macmon. */
export function parseGpuPage(text: string, at: number): GpuReading[] {
  if (text.trimStart().startsWith("{")) return parseMacmon(text, at);
  const families = parsePrometheusTextFormat(text);
  if (isDcgm(families)) return parseDcgm(families, at);
  if (isMacmon(families)) return parseMacmonMetrics(families, at);
  throw new Error("the page holds neither a DCGM exporter's DCGM_FI_* metrics nor macmon's");
}

export const urlSource = (url: string, fetchText: FetchText): GpuSource => ({
  name: url,
  read: async (at) => parseGpuPage(await fetchText(url), at),
});
