// The request line, checked before anything else: only a path is a target here (this is no forward proxy), and
// only the methods llama-server's API has go on to it.

import { SidecarError } from "../errors.js";
import type { SidecarContext, SidecarMiddleware } from "../wire/context.js";
import { classify } from "../wire/routes.js";

/**
 * A path that one server resolves and another does not: a "." or ".." segment, plain or percent-encoded, and an
 * encoded slash or backslash. /dashboard/../v1/chat/completions is a dashboard file to a guard that reads it as
 * written, and a model call to an upstream (nginx, Caddy, Envoy) that resolves it: such a target is never passed on.
 */
const AMBIGUOUS_PATH = /(?:^|\/)(?:\.|%2e){1,2}(?:[/?#]|$)|%2f|%5c|\\|#/i;

/** Methods forwarded to llama-server's routes; anything else never reaches it (OPTIONS is answered by the guard). */
const FORWARDED_METHODS = new Set(["GET", "HEAD", "POST"]);
/** What the sidecar answers on a forwarded path: those, and OPTIONS itself. */
const FORWARDED_ALLOW = "GET, HEAD, POST, OPTIONS";

export function requestTarget(): SidecarMiddleware {
  return (ctx, next) => {
    const target = ctx.req.url ?? "";
    ctx.state.protocol = classify(ctx.path).protocol;
    if (target === "*" && ctx.method === "OPTIONS") {
      // "OPTIONS *" asks about the server as a whole: answered here, never forwarded or counted.
      ctx.status = 204;
      ctx.set("Allow", FORWARDED_ALLOW);
      return;
    }
    if (!target.startsWith("/")) {
      throw new SidecarError(
        "bad_request",
        "the request target must be a path such as /v1/messages: llama-sidecar is not a forward proxy",
      );
    }
    // A fragment never belongs in a request target; one would end the path for Koa but not for every upstream.
    if (AMBIGUOUS_PATH.test(target.split("?", 1)[0] as string)) {
      throw new SidecarError(
        "bad_request",
        "the request path holds a dot segment (/../ or /./), an encoded slash or dot, or a #: refused, so that no server behind the sidecar reads it as another path",
      );
    }
    return next();
  };
}

/** OPTIONS on a forwarded path is answered here with what the path takes: llama-server's answer is CORS only. */
export function answerOptions(ctx: SidecarContext): boolean {
  if (ctx.method !== "OPTIONS") return false;
  ctx.status = 204;
  ctx.set("Allow", FORWARDED_ALLOW);
  return true;
}

/** Refuses, with 405 and Allow, a method none of llama-server's routes has (on paths the sidecar forwards). */
export function checkForwardedMethod(ctx: SidecarContext): void {
  if (FORWARDED_METHODS.has(ctx.method)) return;
  ctx.set("Allow", FORWARDED_ALLOW);
  throw new SidecarError(
    "method_not_allowed",
    `${ctx.method} is not a method llama-server answers; use ${FORWARDED_ALLOW}`,
  );
}
