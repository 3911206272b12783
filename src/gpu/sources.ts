// Where the GPU's readings come from: this machine's GPU tools, tried in order (nvidia-smi, amd-smi, macmon; the
// first one present is kept), or a URL an upstream on another box names (gpu/url-source.ts).
import {
  amdLimitArgs,
  amdMetricArgs,
  amdProcessArgs,
  parseAmdForeign,
  parseAmdLimits,
  parseAmdMetrics,
} from "./amd-smi.js";
import { macmonArgs, parseMacmon } from "./macmon.js";
import { appQueryArgs, foreignMemory, gpuQueryArgs, parseGpus } from "./nvidia-smi.js";
import type { GpuReading } from "./reading.js";

/** Runs a program with arguments and gives its standard output (rejects when it cannot run or fails). */
export type RunTool = (file: string, args: readonly string[]) => Promise<string>;

export interface GpuSource {
  /** The program (which must be on PATH: its absence, ENOENT, moves on to the next source) or the URL. */
  readonly name: string;
  read(at: number): Promise<GpuReading[]>;
}

const nvidia = (run: RunTool): GpuSource => ({
  name: "nvidia-smi",
  async read(at) {
    const [gpus, apps] = await Promise.all([
      run("nvidia-smi", gpuQueryArgs),
      run("nvidia-smi", appQueryArgs).catch(() => ""),
    ]);
    const foreign = foreignMemory(apps);
    return parseGpus(gpus, at).map(({ uuid, ...r }) => ({ ...r, foreignMemoryBytes: foreign.get(uuid) ?? 0 }));
  },
});

/** The power caps change rarely: asked once a minute. */
const LIMITS_EVERY_MS = 60_000;

function amd(run: RunTool): GpuSource {
  let limits = new Map<string, number>();
  let limitsAt = Number.NEGATIVE_INFINITY;
  return {
    name: "amd-smi",
    async read(at) {
      if (at - limitsAt >= LIMITS_EVERY_MS) {
        limits = await run("amd-smi", amdLimitArgs).then(parseAmdLimits, () => limits);
        limitsAt = at;
      }
      const [metrics, processes] = await Promise.all([
        run("amd-smi", amdMetricArgs),
        run("amd-smi", amdProcessArgs).catch(() => "[]"),
      ]);
      return parseAmdMetrics(metrics, at, limits, parseAmdForeign(processes));
    },
  };
}

const macmon = (run: RunTool): GpuSource => ({
  name: "macmon",
  read: async (at) => parseMacmon(await run("macmon", macmonArgs), at),
});

/** This machine's GPU tools, in the order they are tried. */
export const toolSources = (run: RunTool): GpuSource[] => [nvidia(run), amd(run), macmon(run)];
