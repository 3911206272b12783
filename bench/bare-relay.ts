// The floor for any proxy on this machine: an undici + node:http relay that observes nothing.
// The benchmark runs it beside the sidecar so "added TTFT" can be read against what one extra hop costs.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent, request } from "undici";

const upstream = process.argv[2] ?? "http://127.0.0.1:8080";
const agent = new Agent({ keepAliveTimeout: 30_000 });

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const up = await request(upstream + (req.url ?? "/"), {
    dispatcher: agent,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: Buffer.concat(chunks),
  });
  res.writeHead(up.statusCode, { "content-type": String(up.headers["content-type"] ?? "text/event-stream") });
  up.body.on("data", (b: Buffer) => {
    if (!res.write(b)) up.body.pause();
  });
  res.on("drain", () => up.body.resume());
  up.body.on("end", () => res.end());
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
