// Every request a real client was recorded sending (Claude Code in a terminal, -p and stream-json; the OpenAI and
// Anthropic SDKs; Cline's and Continue's shapes from their sources) goes to a real llama-server twice: straight, and
// through the sidecar. Whatever llama-server takes, the sidecar takes too, and answers alike.
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClientRequest, clientRequests, withShortReply } from "../support/client-requests.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";

let llama: LlamaServer;
let sidecar: TestSidecar;

beforeAll(async () => {
  // -n: a reply of a few tokens where the client asks no limit (Cline sends none).
  llama = await startLlamaServer({ ctx: 32768, extraArgs: ["-n", "4"] });
  sidecar = await startTestSidecar(llama.url);
});
afterAll(async () => {
  await sidecar?.close();
  await llama?.stop();
});

async function send(base: string, r: ClientRequest): Promise<{ status: number; text: string }> {
  const body = r.body === undefined ? undefined : JSON.stringify(withShortReply(r.body));
  const res = await request(`${base}${r.path}`, { method: r.method as "POST", headers: r.headers, body });
  return { status: res.statusCode, text: await res.body.text() };
}

const requests = clientRequests();

describe(`${requests.length} requests real clients sent`, () => {
  it("are all there: Claude Code in each mode, both SDKs, Cline and Continue", () => {
    const names = requests.map((r) => r.name).join("\n");
    for (const what of ["terminal: a prompt that runs a tool", "terminal: /compact", "claude -c", "-p", "stream-json"])
      expect(names).toContain(what);
    for (const client of ["@anthropic-ai/sdk", "openai", "cline", "continue"]) expect(names).toContain(`${client} `);
    // What made every terminal turn fail: role "system" entries among the messages.
    const roles = requests.flatMap((r) => (r.body as { messages?: { role: string }[] })?.messages ?? []);
    expect(roles.some((m) => m.role === "system")).toBe(true);
  });

  it.for(requests.map((r) => [r.name, r] as const))(
    "%s: llama-server takes it, and so does the sidecar",
    async ([, r]) => {
      const straight = await send(llama.url, r);
      const through = await send(sidecar.url, r);
      // Every model request a client sent is one llama-server serves (Claude Code's HEAD / probe gets its 404).
      if (r.method === "POST") expect(straight.status, straight.text.slice(0, 300)).toBeLessThan(300);
      expect(through.status, through.text.slice(0, 300)).toBe(straight.status);
    },
  );
});

describe("a request llama-server's parsers refuse", () => {
  const cases = [
    { path: "/v1/chat/completions", body: { messages: [{ role: 5, content: "hi" }], max_tokens: 2 } },
    {
      path: "/v1/messages",
      body: { max_tokens: 2, messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] },
    },
    {
      path: "/v1/messages/count_tokens",
      body: { messages: [{ role: "user", content: [{ type: "text", text: ["hi"] }] }] },
    },
  ];

  it.for(cases)(
    "$path: llama-server's 500 is the client's 400, in its protocol, with llama-server's words",
    async (c) => {
      const r: ClientRequest = {
        name: c.path,
        method: "POST",
        path: c.path,
        headers: { "content-type": "application/json" },
        body: c.body,
      };
      const straight = await send(llama.url, r);
      const through = await send(sidecar.url, r);
      expect(straight.status).toBe(500);
      expect(through.status).toBe(400);
      const answer = JSON.parse(through.text) as { type?: string; error: { type: string; message: string } };
      expect(answer.error.type).toBe("invalid_request_error");
      if (c.path.startsWith("/v1/messages")) expect(answer.type).toBe("error");
      expect(answer.error.message).toBe((JSON.parse(straight.text) as { error: { message: string } }).error.message);
    },
  );

  it("while any role llama-server keeps passes, Claude Code's and a made-up one alike", async () => {
    for (const role of ["system", "robot"]) {
      const body = {
        max_tokens: 2,
        messages: [
          { role: "user", content: "hi" },
          { role, content: "note" },
        ],
      };
      const r: ClientRequest = {
        name: role,
        method: "POST",
        path: "/v1/messages",
        headers: { "content-type": "application/json" },
        body,
      };
      expect((await send(llama.url, r)).status).toBe(200);
      expect((await send(sidecar.url, r)).status).toBe(200);
    }
  });
});
