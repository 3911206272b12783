import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { config, problems } from "../../support/config.js";

describe("config", () => {
  it("has safe defaults: loopback only, port 9090, llama-server on 8080", () => {
    const c = config([], { XDG_DATA_HOME: "/data" });
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: 9090,
      upstream: "http://127.0.0.1:8080",
      dataDir: "/data/llama-sidecar",
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("reads LLAMA_SIDECAR_* env vars and lets flags override them", () => {
    const env = {
      LLAMA_SIDECAR_PORT: "7000",
      LLAMA_SIDECAR_UPSTREAM: "http://gpu:8080/",
      LLAMA_SIDECAR_DATA_DIR: "/x",
    };
    expect(config([], env)).toMatchObject({ port: 7000, upstream: "http://gpu:8080", dataDir: "/x" });
    expect(config(["--port", "7001"], env).port).toBe(7001);
  });

  it("reports every bad value by the name the user wrote", () => {
    const found = problems(["--port", "99999"], {
      LLAMA_SIDECAR_UPSTREAM: "ftp://x",
      LLAMA_SIDECAR_CAPTURE_CONTENT: "maybe",
    });
    expect(found).toHaveLength(3);
    expect(found.find((p) => p.startsWith("--port="))).toBeDefined();
    expect(found.find((p) => p.startsWith("LLAMA_SIDECAR_UPSTREAM="))).toMatch(/http/);
    expect(found.find((p) => p.startsWith("LLAMA_SIDECAR_CAPTURE_CONTENT="))).toBeDefined();
  });

  it("refuses a user or password in the upstream URL at start, naming the key setting, the password never shown", () => {
    const found = problems(["--upstream", "http://user:pw-secret@gpu:8080"], {}).join("\n");
    expect(found).toMatch(
      /--upstream="http:\/\/\*\*\*@gpu:8080": must not hold a user or password .*--upstream-api-key/,
    );
    expect(found).not.toContain("pw-secret");
    // A token alone before the @ is a secret too; an @ in the query is no credential.
    expect(problems(["--upstream", "http://sk-token@gpu:8080"], {}).join("\n")).not.toContain("sk-token");
    expect(config(["--upstream", "http://gpu:8080/?x=@"], {}).upstream).toBe("http://gpu:8080/?x=@");
  });

  it("drops spaces around a key from a flag or variable, as from a key file; notes a key given as a flag", () => {
    expect(config([], { LLAMA_SIDECAR_API_KEY: "  k-12345678 " }).apiKey).toBe("k-12345678");
    expect(config([], { LLAMA_SIDECAR_API_KEY: "k-12345678" }).keysOnCommandLine).toEqual([]);
    expect(config(["--api-key", "k-12345678"], {}).keysOnCommandLine).toEqual(["--api-key"]);
  });

  it("takes numbers in decimal notation only: an empty value is an error, not 0", () => {
    for (const bad of ["", " ", "0x50", "1e3", "80.5", "abc"]) {
      expect(problems([`--port=${bad}`])[0]).toBe(`--port=${JSON.stringify(bad)}: must be a whole decimal number`);
    }
    expect(problems([], { LLAMA_SIDECAR_QUEUE_MAX: " " })[0]).toMatch(/^LLAMA_SIDECAR_QUEUE_MAX=" ": must be a whole/);
    // An empty env var is unset (compose files write `NAME=` for that): the default applies.
    expect(config([], { LLAMA_SIDECAR_QUEUE_MAX: "" }).queueMax).toBe(64);
    expect(problems(["--max-body-mb", "lots"])[0]).toMatch(/must be a decimal number/);
    expect(problems(["--health-interval", "0.05"])[0]).toMatch(/>=0\.1/);
    expect(config(["--port", " 8081 ", "--max-body-mb", "0.5", "--health-interval", ".5"])).toMatchObject({
      port: 8081,
      maxBodyMb: 0.5,
      healthInterval: 0.5,
    });
  });

  it("takes an electricity price per kWh with its currency code, on either side", () => {
    expect(config(["--energy-price", "0.30 EUR"]).energyPrice).toEqual({ perKwh: 0.3, currency: "EUR" });
    expect(config([], { LLAMA_SIDECAR_ENERGY_PRICE: "usd0.15" }).energyPrice).toEqual({
      perKwh: 0.15,
      currency: "USD",
    });
    expect(config([]).energyPrice).toBeUndefined();
    for (const bad of ["0.30", "EUR", "1,5 EUR", "0.3 euros", "0 EUR"])
      expect(problems(["--energy-price", bad])).toEqual([
        `--energy-price="${bad}": must be a price per kWh and its currency code, such as "0.30 EUR"`,
      ]);
  });

  it("takes an on/off setting as a bare flag, or with a value", () => {
    expect(config(["--capture-content"]).captureContent).toBe(true);
    expect(config(["--capture-content", "--port", "7002"])).toMatchObject({ captureContent: true, port: 7002 });
    expect(config(["--capture-content", "false"]).captureContent).toBe(false);
    expect(config([]).captureContent).toBe(false);
  });

  it("rejects unknown flags and stray arguments", () => {
    expect(problems(["--prot", "1"])[0]).toMatch(/prot/);
    expect(problems(["serve"])[0]).toMatch(/serve/);
  });

  it("answers --help with every setting and its env var", () => {
    const r = parseConfig(["--help"], {});
    expect(r.kind).toBe("help");
    const text = r.kind === "help" ? r.text : "";
    for (const s of ["--upstream", "LLAMA_SIDECAR_UPSTREAM", "--data-dir", "LLAMA_SIDECAR_DATA_DIR", "--port"])
      expect(text).toContain(s);
    // The client commands are named too, each with what it does.
    for (const c of ["llama-sidecar claude [", "llama-sidecar env <client>", "llama-sidecar statusline"])
      expect(text).toContain(c);
  });
});
