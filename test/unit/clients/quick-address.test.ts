// The status line's address without the full schema: the few settings it needs, anything else left to the parser.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quickAddress } from "../../../src/clients/quick-address.js";

describe("quickAddress", () => {
  it("reads host, port and key from flags and LLAMA_SIDECAR_* variables, flags winning", () => {
    expect(quickAddress([], {})).toEqual({ base: "http://127.0.0.1:9090", key: undefined });
    expect(quickAddress(["--port", "9191"], { LLAMA_SIDECAR_PORT: "1", LLAMA_SIDECAR_API_KEY: "k-12345678" })).toEqual({
      base: "http://127.0.0.1:9191",
      key: "k-12345678",
    });
    expect(quickAddress(["--host=::"], {})?.base).toBe("http://[::1]:9090");
    const file = join(mkdtempSync(join(tmpdir(), "key-")), "key");
    writeFileSync(file, "from-a-file\nsecond line\n");
    // The first line, as the full parser reads it; an empty variable is unset.
    expect(quickAddress(["--api-key-file", file], { LLAMA_SIDECAR_API_KEY: "" })?.key).toBe("from-a-file");
    // Spaces around a key are dropped, as the sidecar drops them: a header's value never keeps them.
    expect(quickAddress([], { LLAMA_SIDECAR_API_KEY: " k-12345678 " })?.key).toBe("k-12345678");
  });

  it("leaves to the full parser what it does not read cleanly", () => {
    expect(quickAddress(["--port", "x"], {})).toBeUndefined();
    expect(quickAddress(["--port", "70000"], {})).toBeUndefined();
    expect(quickAddress(["--port"], {})).toBeUndefined();
    expect(quickAddress(["--help"], {})).toBeUndefined();
    expect(quickAddress(["--upstream", "http://x"], {})).toBeUndefined();
    expect(quickAddress(["--api-key-file", "/no/such/file"], {})).toBeUndefined();
    expect(quickAddress(["--api-key", "k-12345678", "--api-key-file", "/etc/hostname"], {})).toBeUndefined();
    // A config file may name the port or the key (issue 26: the status line showed 401 with a file's key).
    expect(quickAddress([], { LLAMA_SIDECAR_CONFIG: "/etc/sidecar.yaml" })).toBeUndefined();
  });
});
