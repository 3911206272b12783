// undici's Agent, and its request API, loaded on their own: all of undici the sidecar uses.
import { createRequire } from "node:module";
import type * as Undici from "undici";

const load = createRequire(import.meta.url);

/**
 * undici's index loads everything undici has (fetch, WebSocket, EventSource, caches, mock agents: 110 modules),
 * which kept about 5 MB of a sidecar's memory for code it never runs; the Agent's own module and what it needs is
 * 0.5 MB. undici has no exports map, so these files are undici's to move in a major version: the package is pinned
 * to 7, and test/unit/undici-agent.test.ts checks they are the index's own.
 */
export const Agent: typeof Undici.Agent = load("undici/lib/dispatcher/agent.js");

type RequestApi = (
  this: Undici.Dispatcher,
  opts: Undici.Dispatcher.RequestOptions,
) => Promise<Undici.Dispatcher.ResponseData>;
const requestApi: RequestApi = load("undici/lib/api/api-request.js");

/**
 * A whole request through `dispatcher`, as undici's `dispatcher.request()`: the index puts that method on every
 * dispatcher when it loads, and it is not loaded here.
 */
export function request(
  dispatcher: Undici.Dispatcher,
  opts: Undici.Dispatcher.RequestOptions,
): Promise<Undici.Dispatcher.ResponseData> {
  return requestApi.call(dispatcher, opts);
}
