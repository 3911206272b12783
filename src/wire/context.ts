// What the sidecar's middleware share through Koa's ctx.state, typed: Koa's own state type is `any`.
import type { Middleware, ParameterizedContext } from "koa";
import type { Protocol } from "../errors.js";

export interface SidecarState {
  /** The protocol the client speaks, so that an error thrown anywhere below is rendered in it. */
  protocol?: Protocol;
}

/** A request's Koa context, with the sidecar's state. */
export type SidecarContext = ParameterizedContext<SidecarState>;

/** A Koa middleware of the sidecar's app. */
export type SidecarMiddleware = Middleware<SidecarState>;
