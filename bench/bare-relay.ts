// The floor for any proxy on this machine: node:http in, undici's raw dispatch callbacks out, observing nothing.
// The benchmark runs it beside the sidecar so "added TTFT" can be read against what one extra hop costs.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent, type Dispatcher } from "undici";

const upstream = new URL(process.argv[2] ?? "http://127.0.0.1:8080");
const agent = new Agent({ keepAliveTimeout: 30_000 });

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let controller: Dispatcher.DispatchController | undefined;
  res.on("drain", () => controller?.resume());
  agent.dispatch(
    {
      origin: upstream.origin,
      path: req.url ?? "/",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Buffer.concat(chunks),
    },
    {
      onRequestStart: (c) => {
        controller = c;
      },
      onResponseStart: (_c, status, headers) => {
        res.writeHead(status, { "content-type": String(headers["content-type"] ?? "text/event-stream") });
      },
      onResponseData: (c, chunk) => {
        if (!res.write(chunk)) c.pause();
      },
      onResponseEnd: () => res.end(),
      onResponseError: (_c, err) => res.destroy(err),
    },
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
