import { describe, expect, it } from "vitest";
import { clientResponseHeaders, upstreamRequestHeaders } from "../../../src/proxy/headers.js";

describe("headers", () => {
  it("drops hop-by-hop headers, those named by Connection, host and stale lengths", () => {
    const out = upstreamRequestHeaders(
      {
        host: "sidecar:9090",
        connection: "keep-alive, x-private",
        "x-private": "1",
        "keep-alive": "timeout=5",
        "transfer-encoding": "chunked",
        "content-length": "999",
        "accept-encoding": "gzip",
        "x-api-key": "k",
        "anthropic-version": "2023-06-01",
      },
      12,
    );
    expect(out).toEqual({ "x-api-key": "k", "anthropic-version": "2023-06-01", "content-length": "12" });
  });

  it("passes response headers except hop-by-hop ones", () => {
    expect(
      clientResponseHeaders({
        "content-type": "text/event-stream",
        "keep-alive": "timeout=5",
        "transfer-encoding": "chunked",
        server: "llama.cpp",
      }),
    ).toEqual({
      "content-type": "text/event-stream",
      server: "llama.cpp",
    });
  });
});
