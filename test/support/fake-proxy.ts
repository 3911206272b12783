// The sidecar in front of the recorded fake llama-server, shared by the test files that use one of each.
import { afterAll, beforeAll, beforeEach } from "vitest";
import { type FakeLlama, startFakeLlama } from "./fake-llama.js";
import { startTestSidecar, type TestSidecar } from "./sidecar.js";

// Live bindings: set in beforeAll, read by the tests of the file that called useFakeProxy().
export let fake: FakeLlama;
export let sidecar: TestSidecar;

/** Starts a fake llama-server and a sidecar in front of it for the calling test file. */
export function useFakeProxy(args: string[] = ["--max-body-mb", "0.01"]): void {
  beforeAll(async () => {
    fake = await startFakeLlama();
    sidecar = await startTestSidecar(fake.url, args);
  });
  afterAll(async () => {
    await sidecar?.close();
    await fake?.close();
  });
  beforeEach(() => {
    sidecar.clearRecords();
    fake.seen.length = 0;
    // (the sidecar's own health checks and scrapes also reach the fake; tests look at forwarded() only)
  });
}

const BACKGROUND = new Set(["/health", "/metrics", "/slots", "/props"]);

/** What reached the fake from clients, not the sidecar's own health checks and scrapes. */
export const forwarded = () => fake.seen.filter((s) => !BACKGROUND.has(s.path));

export interface ErrorJson {
  type?: string;
  error: { type: string; message: string; code?: string | number };
}

export const errorJson = async (res: Response) => (await res.json()) as ErrorJson;

export function post(path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(sidecar.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
}
