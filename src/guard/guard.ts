// Who may come in, checked before anything else runs: the Host (DNS rebinding), the browser origin (CORS, with
// preflights answered here) and, when one is set, the API key. A refusal speaks the client's protocol.

import type { Config } from "../config/load.js";
import { SidecarError } from "../errors.js";
import type { SidecarMiddleware } from "../wire/context.js";
import { expectedKey, keyMatches, needsKey, presentedKey } from "./api-key.js";
import { hostAllowed, ownHostNames } from "./host.js";
import { corsHeaders, judgeOrigin, preflightHeaders } from "./origin.js";

/** Every method the sidecar answers; a browser's OPTIONS is answered here, never forwarded. */
const ALLOW = "GET, HEAD, POST, OPTIONS";

export function guard(config: Config): SidecarMiddleware {
  const hosts = ownHostNames(config.allowedHosts, config.host);
  const origins = new Set(config.allowedOrigins);
  const key = config.apiKey === undefined ? undefined : expectedKey(config.apiKey);
  return (ctx, next) => {
    const host = ctx.get("Host") || undefined;
    if (!hostAllowed(host, hosts)) {
      throw new SidecarError(
        "forbidden",
        `Host ${JSON.stringify(host)} is not a name this sidecar answers to (a guard against DNS rebinding); add it with --allowed-hosts`,
      );
    }
    const verdict = judgeOrigin(ctx.method, ctx.req.headers, origins);
    if (verdict === "refused") {
      const from = ctx.get("Origin") || `a ${ctx.get("Sec-Fetch-Site")} page`;
      throw new SidecarError(
        "forbidden",
        `browser requests from ${from} are refused; to let a web app call the sidecar, add its origin with --allowed-origins`,
      );
    }
    const origin = ctx.get("Origin");
    if (verdict === "allowed") ctx.set(corsHeaders(origin));
    if (ctx.method === "OPTIONS" && origin) {
      // A browser's OPTIONS (a preflight): answered here, never by llama-server, which reflects any origin.
      if (verdict === "allowed" && ctx.get("Access-Control-Request-Method")) {
        ctx.set(preflightHeaders(origin, ctx.get("Access-Control-Request-Headers") || undefined));
      }
      ctx.set("Allow", ALLOW);
      ctx.status = 204;
      return;
    }
    if (key && needsKey(ctx.path, config.protectMetrics) && !keyMatches(presentedKey(ctx.req.headers), key)) {
      ctx.set("WWW-Authenticate", 'Bearer realm="llama-sidecar"');
      throw new SidecarError(
        "invalid_api_key",
        "missing or wrong API key: send it as Authorization: Bearer <key>, x-api-key: <key> or api-key: <key>",
      );
    }
    return next();
  };
}
