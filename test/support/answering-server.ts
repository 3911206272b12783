// A small HTTP server on port 0 that answers each request as a test's handler says, and keeps what it was asked.
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface Asked {
  method: string;
  /** The path with its query, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  /** Text as it is; anything else is sent as JSON. */
  body?: unknown;
}

export interface AnsweringServer {
  url: string;
  asked: Asked[];
  /** The requests asked of one path (its query left out). */
  askedAt(path: string): Asked[];
  close(): Promise<void>;
}

/** `answer` may take its time (a held answer): the request waits for it. */
export async function answeringServer(answer: (req: Asked) => Answer | Promise<Answer>): Promise<AnsweringServer> {
  const asked: Asked[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const seen: Asked = {
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    asked.push(seen);
    const a = await answer(seen);
    const text = typeof a.body === "string" ? a.body : JSON.stringify(a.body ?? {});
    const type = typeof a.body === "string" ? "text/plain" : "application/json; charset=utf-8";
    res.writeHead(a.status ?? 200, { "content-type": type, ...a.headers });
    res.end(text);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    asked,
    askedAt: (path) => asked.filter((a) => a.path.split("?")[0] === path),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
