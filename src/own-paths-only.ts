// The sidecar's own endpoints in front of the proxy: its paths answered by its router (a wrong method with 405 and
// Allow), never forwarded; every other path goes straight on to llama-server.
import type Router from "@koa/router";
import { errorBody, SidecarError } from "./errors.js";
import type { SidecarContext, SidecarMiddleware } from "./wire/context.js";
import { isOwnPath } from "./wire/own-paths.js";
import { classify } from "./wire/routes.js";

/**
 * The sidecar's own paths are answered here, a wrong method with 405 and Allow, a path of its folders it does not
 * serve (/dashboard/anything, /api/anything) with 404: they are never forwarded.
 * Every other request goes straight on, past the router's per-request work (host check, events, matched-route
 * bookkeeping), which would be wasted on it.
 */
export function ownPathsOnly(router: Router): SidecarMiddleware {
  // The router's middleware types ask for the router context properties that the router itself adds.
  const routes = router.routes() as unknown as SidecarMiddleware;
  const allowedMethods = router.allowedMethods() as unknown as SidecarMiddleware;
  const answered = async () => {};
  // The routes never change once made: what a method and path come to is kept (a bounded number of them), so a
  // model call does not test every route's pattern and the own folders on its way through.
  const known = new Map<string, "served" | "own" | "forwarded">();
  const placeOf = (path: string, method: string) => {
    const key = `${method} ${path}`;
    let place = known.get(key);
    if (place === undefined) {
      place = router.match(path, method).path.length > 0 ? "served" : isOwnPath(path) ? "own" : "forwarded";
      if (known.size >= 1024) known.clear();
      known.set(key, place);
    }
    return place;
  };
  return (ctx, next) => {
    const place = placeOf(ctx.path, ctx.method);
    if (place === "forwarded") return next();
    ctx.set(OWN_PAGE_HEADERS);
    if (place === "own") throw new SidecarError("not_found", `${ctx.path} is not a page or endpoint of the sidecar`);
    return routes(ctx, () => allowedMethods(ctx, answered)).then(() => explainWrongMethod(ctx, router));
  };
}

/**
 * On everything the sidecar answers itself: no page of another site may frame the dashboard (clickjacking), and
 * the dashboard runs only its own scripts and styles, talking only to the sidecar.
 */
const OWN_PAGE_HEADERS = {
  "X-Frame-Options": "DENY",
  "Content-Security-Policy":
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "X-Content-Type-Options": "nosniff",
};

/**
 * The router sets 405 and Allow, or 501 for a method it does not know at all (PROPFIND): both become a 405 with
 * Allow, whose body, like every error's, speaks the client's protocol.
 */
function explainWrongMethod(ctx: SidecarContext, router: Router): void {
  if (ctx.status === 501) {
    ctx.status = 405;
    ctx.set("Allow", ["GET", "HEAD", "POST"].filter((m) => router.match(ctx.path, m).route).join(", "));
  }
  if (ctx.status !== 405) return;
  const allowed = ctx.response.get("Allow");
  const error = new SidecarError("method_not_allowed", `${ctx.method} ${ctx.path} is not allowed; use ${allowed}`);
  ctx.body = errorBody(error, classify(ctx.path).protocol);
}
