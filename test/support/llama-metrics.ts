// Reads llama-server's own /metrics counters, the ground truth the sidecar's counts are checked against.

export interface LlamaCounters {
  prompt: number;
  cached: number;
  predicted: number;
  processing: number;
}

function value(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : Number.NaN;
}

/** `key`: for a llama-server started with --api-key. */
export async function llamaCounters(url: string, key?: string): Promise<LlamaCounters> {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  return {
    prompt: value(text, "llamacpp:prompt_tokens_total"),
    cached: value(text, "llamacpp:prompt_tokens_cached_total"),
    predicted: value(text, "llamacpp:tokens_predicted_total"),
    processing: value(text, "llamacpp:requests_processing"),
  };
}

/** Counters once llama-server is idle (metrics are updated as a slot is released, just after the last byte). */
export async function idleCounters(url: string, key?: string): Promise<LlamaCounters> {
  let last = await llamaCounters(url, key);
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const next = await llamaCounters(url, key);
    if (next.processing === 0 && next.predicted === last.predicted && next.prompt === last.prompt) return next;
    last = next;
  }
  return last;
}

export interface SlotState {
  id: number;
  is_processing: boolean;
}

export async function slots(url: string): Promise<SlotState[]> {
  return (await (await fetch(`${url}/slots`)).json()) as SlotState[];
}
