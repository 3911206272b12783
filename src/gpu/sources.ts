// The GPU tools the sampler tries, in order, each read into the same readings: nvidia-smi, amd-smi, macmon. The
// first one present is kept; a machine with none has no GPU readings.
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
  /** The program, which must be on PATH: its absence (ENOENT) moves on to the next source. */
  readonly program: string;
  read(run: RunTool, at: number): Promise<GpuReading[]>;
}

const nvidia: GpuSource = {
  program: "nvidia-smi",
  async read(run, at) {
    const [gpus, apps] = await Promise.all([
      run("nvidia-smi", gpuQueryArgs),
      run("nvidia-smi", appQueryArgs).catch(() => ""),
    ]);
    const foreign = foreignMemory(apps);
    return parseGpus(gpus, at).map(({ uuid, ...r }) => ({ ...r, foreignMemoryBytes: foreign.get(uuid) ?? 0 }));
  },
};

/** The power caps change rarely: asked once a minute. */
const LIMITS_EVERY_MS = 60_000;

function amd(): GpuSource {
  let limits = new Map<string, number>();
  let limitsAt = Number.NEGATIVE_INFINITY;
  return {
    program: "amd-smi",
    async read(run, at) {
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

const macmon: GpuSource = {
  program: "macmon",
  read: async (run, at) => parseMacmon(await run("macmon", macmonArgs), at),
};

export const gpuSources = (): GpuSource[] => [nvidia, amd(), macmon];
