// Choosing the upstreams a request goes to, and failing over to the next before the client has seen a byte.
import { describe, expect, it } from "vitest";
import type { AdmissionQueue, Ticket } from "../../../src/admission/queue.js";
import type { Cancellation } from "../../../src/cancellation.js";
import { SidecarError } from "../../../src/errors.js";
import type { Choice, UpstreamFleet } from "../../../src/fleet/fleet.js";
import type { ModelLoad, UpstreamUnit } from "../../../src/fleet/upstream-unit.js";
import { begin, type Exchange } from "../../../src/proxy/exchange.js";
import type { Outgoing } from "../../../src/proxy/outgoing.js";
import { type Attempt, chooseUpstreams, sendToFirstThatAnswers } from "../../../src/proxy/upstream-choice.js";
import type { UpstreamResponse } from "../../../src/upstream/response.js";
import type { SidecarContext } from "../../../src/wire/context.js";
import type { JsonObject } from "../../../src/wire/json.js";

function exchange(path = "/v1/chat/completions"): Exchange {
  return begin({ path, method: "POST", req: { headers: {} } } as unknown as SidecarContext);
}

/** A unit as the request path reads it: its name, router model, queue, health check and model load. */
interface FakeUnit {
  unit: UpstreamUnit;
  checks: number;
  /** The cancellations its prepare was given. */
  prepared: Cancellation[];
}

function fakeUnit(name: string, opts: { model?: string; prepare?: () => Promise<ModelLoad | undefined> } = {}) {
  const fake: FakeUnit = { unit: undefined as unknown as UpstreamUnit, checks: 0, prepared: [] };
  const prepare = opts.prepare;
  fake.unit = {
    name,
    model: opts.model,
    queue: { name } as unknown as AdmissionQueue,
    monitor: {
      check: async () => {
        fake.checks++;
        return { state: "online", since: 0 };
      },
    },
    prepare: prepare
      ? (cancel: Cancellation) => {
          fake.prepared.push(cancel);
          return prepare();
        }
      : undefined,
  } as unknown as UpstreamUnit;
  return fake;
}

/** A fleet as the request path reads it, its calls recorded; `choose` answers from the script in turn. */
function fakeFleet(units: UpstreamUnit[], script: (Choice | Error)[], background?: UpstreamUnit) {
  const calls = {
    choose: [] as [string | undefined, string | undefined][],
    refreshes: 0,
    served: [] as [string, string][],
  };
  const fleet = {
    units,
    background,
    choose(model: string | undefined, conversation?: string): Choice {
      calls.choose.push([model, conversation]);
      const next = script.shift();
      if (!next) throw new Error("choose asked more often than scripted");
      if (next instanceof Error) throw next;
      return next;
    },
    async refreshRouters() {
      calls.refreshes++;
    },
    served(conversation: string, unit: UpstreamUnit) {
      calls.served.push([conversation, unit.name]);
    },
  } as unknown as UpstreamFleet;
  return { fleet, calls };
}

function chooser(units: UpstreamUnit[], script: (Choice | Error)[], background?: UpstreamUnit) {
  const { fleet, calls } = fakeFleet(units, script, background);
  const failovers: [string, string, string][] = [];
  const deps = { fleet, logFailover: (from: string, to: string, why: string) => failovers.push([from, to, why]) };
  return { deps, calls, failovers };
}

const chat = (model: string, messages: JsonObject[], extra: JsonObject = {}): JsonObject => ({
  model,
  messages,
  ...extra,
});
const notServed = () => new SidecarError("model_not_found", 'model "m" is not served here');

describe("chooseUpstreams", () => {
  const a = fakeUnit("a").unit;
  const b = fakeUnit("b").unit;
  const bg = fakeUnit("bg").unit;

  it('sends a background call with policy "route" to the background upstream, without asking the fleet', async () => {
    const { deps, calls } = chooser([a, b], [], bg);
    const ex = exchange("/v1/messages");
    ex.tags.backgroundPolicy = "route";
    expect(await chooseUpstreams(deps, ex, { model: "claude-haiku" })).toEqual([bg]);
    expect(calls.choose).toEqual([]);
  });

  it('asks the fleet for a "route" call when there is no background upstream, and for other policies', async () => {
    const { deps, calls } = chooser([a], [{ units: [a] }, { units: [a] }]);
    const ex = exchange("/v1/messages");
    ex.tags.backgroundPolicy = "route";
    expect(await chooseUpstreams(deps, ex, { model: "m" })).toEqual([a]);
    const withBackground = chooser([a], [{ units: [a] }], bg);
    const forwarded = exchange("/v1/messages");
    forwarded.tags.backgroundPolicy = "forward";
    expect(await chooseUpstreams(withBackground.deps, forwarded, { model: "m" })).toEqual([a]);
    expect(calls.choose).toHaveLength(1);
    expect(withBackground.calls.choose).toHaveLength(1);
  });

  it("asks for the request's model without a conversation when there is one unit", async () => {
    const { deps, calls } = chooser([a], [{ units: [a] }]);
    const ex = exchange();
    ex.model = { model: "qwen", stream: false };
    ex.prompt = { body: {}, sessionKey: "session-1" };
    expect(await chooseUpstreams(deps, ex, chat("qwen", [{ role: "user", content: "hi" }]))).toEqual([a]);
    expect(calls.choose).toEqual([["qwen", undefined]]);
    expect(ex.conversation).toBeUndefined();
  });

  it("names the conversation by the client's session when there are several units", async () => {
    const { deps, calls } = chooser([a, b], [{ units: [b, a] }]);
    const ex = exchange();
    ex.model = { model: "qwen", stream: true };
    ex.prompt = { body: {}, sessionKey: "session-1" };
    expect(await chooseUpstreams(deps, ex, chat("qwen", [{ role: "user", content: "hi" }]))).toEqual([b, a]);
    expect(calls.choose).toEqual([["qwen", "s:session-1"]]);
    expect(ex.conversation).toBe("s:session-1");
  });

  it("names a conversation without a session by what opens it, the same for every turn of it", async () => {
    const conversationOf = async (json: JsonObject | undefined) => {
      const { deps, calls } = chooser([a, b], [{ units: [a, b] }]);
      const ex = exchange();
      ex.model = { model: typeof json?.model === "string" ? json.model : undefined, stream: false };
      await chooseUpstreams(deps, ex, json);
      expect(calls.choose[0]?.[1]).toBe(ex.conversation);
      return ex.conversation;
    };
    const system = { role: "system", content: "be brief" };
    const first = { role: "user", content: "hello" };
    const turn1 = await conversationOf(chat("qwen", [system, first]));
    const turn2 = await conversationOf(
      chat("qwen", [system, first, { role: "assistant", content: "hi" }, { role: "user", content: "more" }]),
    );
    expect(turn1).toMatch(/^h:[\w-]+$/);
    expect(turn2).toBe(turn1);
    // Another first message, system prompt or model is another conversation.
    expect(await conversationOf(chat("qwen", [system, { role: "user", content: "bye" }]))).not.toBe(turn1);
    expect(await conversationOf(chat("qwen", [{ role: "system", content: "be long" }, first]))).not.toBe(turn1);
    expect(await conversationOf(chat("other", [system, first]))).not.toBe(turn1);
    // Anthropic's system prompt is a field of its own; a completion's prompt opens it.
    const anthropic = await conversationOf({ model: "qwen", system: "s1", messages: [first] });
    expect(await conversationOf({ model: "qwen", system: "s2", messages: [first] })).not.toBe(anthropic);
    const completion = await conversationOf({ model: "qwen", prompt: "once upon" });
    expect(await conversationOf({ model: "qwen", prompt: "once upon" })).toBe(completion);
    expect(await conversationOf({ model: "qwen", prompt: "a time" })).not.toBe(completion);
    // No body, no conversation.
    expect(await conversationOf(undefined)).toBeUndefined();
  });

  it("names a Responses conversation by its instructions and first input item, and gives embeddings none", async () => {
    const keyOf = async (path: string, json: JsonObject) => {
      const { deps } = chooser([a, b], [{ units: [a, b] }]);
      const ex = exchange(path);
      await chooseUpstreams(deps, ex, json);
      return ex.conversation;
    };
    const first = { role: "user", content: "hello" };
    const turn1 = await keyOf("/v1/responses", { model: "qwen", instructions: "be brief", input: [first] });
    const turn2 = await keyOf("/v1/responses", {
      model: "qwen",
      instructions: "be brief",
      input: [first, { role: "assistant", content: "hi" }, { role: "user", content: "more" }],
    });
    expect(turn2).toBe(turn1);
    expect(await keyOf("/v1/responses", { model: "qwen", instructions: "be long", input: [first] })).not.toBe(turn1);
    expect(await keyOf("/v1/responses", { model: "qwen", input: "one" })).not.toBe(
      await keyOf("/v1/responses", { model: "qwen", input: "two" }),
    );
    expect(await keyOf("/v1/embeddings", { model: "qwen", input: "some text" })).toBeUndefined();
  });

  it("rewrites the body's model to the alias's local name and tags it", async () => {
    const { deps } = chooser([a], [{ aliasedTo: "qwen3-coder", units: [a] }]);
    const ex = exchange();
    ex.model = { model: "claude-sonnet", stream: false };
    const json = chat("claude-sonnet", [{ role: "user", content: "hi" }]);
    expect(await chooseUpstreams(deps, ex, json)).toEqual([a]);
    expect(json.model).toBe("qwen3-coder");
    expect(ex.tags.aliasedTo).toBe("qwen3-coder");
  });

  it("leaves the model and tags alone where no alias applied", async () => {
    const { deps } = chooser([a], [{ units: [a] }]);
    const ex = exchange();
    ex.model = { model: "qwen", stream: false };
    const json = chat("qwen", [{ role: "user", content: "hi" }]);
    await chooseUpstreams(deps, ex, json);
    expect(json.model).toBe("qwen");
    expect(ex.tags.aliasedTo).toBeUndefined();
  });

  it("asks about a model none serves once more, after the routers' lists are read again", async () => {
    const { deps, calls } = chooser([a], [notServed(), { units: [a] }]);
    const ex = exchange();
    ex.model = { model: "new-model", stream: false };
    expect(await chooseUpstreams(deps, ex, { model: "new-model" })).toEqual([a]);
    expect(calls.refreshes).toBe(1);
    expect(calls.choose).toEqual([
      ["new-model", undefined],
      ["new-model", undefined],
    ]);
  });

  it("throws model_not_found when the model is still not served after the refresh", async () => {
    const { deps, calls } = chooser([a], [notServed(), notServed()]);
    const ex = exchange();
    ex.model = { model: "gone", stream: false };
    await expect(chooseUpstreams(deps, ex, { model: "gone" })).rejects.toMatchObject({ code: "model_not_found" });
    expect(calls.refreshes).toBe(1);
    expect(calls.choose).toHaveLength(2);
  });

  it("throws any other error from the fleet at once, without a refresh", async () => {
    const { deps, calls } = chooser([a], [new SidecarError("internal", "broken")]);
    await expect(chooseUpstreams(deps, exchange(), { model: "m" })).rejects.toThrow("broken");
    expect(calls.refreshes).toBe(0);
    expect(calls.choose).toHaveLength(1);
  });
});

/** What an attempt answers for one unit: a status, or an error thrown by its send. */
type Answer = number | Error;

interface FakeTicket extends Ticket {
  unit: string;
  released: number;
}

/** An attempt whose sends answer from a script per unit; admissions, tickets and every step recorded in order. */
function fakeAttempt(answers: Record<string, Answer>, opts: { noTicket?: boolean } = {}) {
  const steps: string[] = [];
  const tickets: FakeTicket[] = [];
  const responses: { unit: string; up: UpstreamResponse; dumped: () => number }[] = [];
  const attempt: Attempt = {
    async admit(queue) {
      const unit = (queue as unknown as { name: string }).name;
      steps.push(`admit ${unit}`);
      if (opts.noTicket) return undefined;
      const ticket: FakeTicket = {
        unit,
        waitedMs: 0,
        released: 0,
        release() {
          ticket.released++;
        },
      };
      tickets.push(ticket);
      return ticket;
    },
    async send(unit) {
      steps.push(`send ${unit.name}`);
      const answer = answers[unit.name];
      if (answer === undefined) throw new Error(`no answer scripted for ${unit.name}`);
      if (answer instanceof Error) throw answer;
      let dumps = 0;
      const up = {
        statusCode: answer,
        headers: {},
        body: {
          dump: async () => {
            dumps++;
          },
        },
      } as unknown as UpstreamResponse;
      responses.push({ unit: unit.name, up, dumped: () => dumps });
      return { out: { unit: unit.name } as unknown as Outgoing, up };
    },
  };
  return { attempt, steps, tickets, responses };
}

const ctxWith = (headersSent = false) => ({ res: { headersSent } }) as unknown as SidecarContext;

/**
 * Sends to two units, the first answering `answer`, after `setup`; checks that the second was never tried and
 * nothing was failed over, the first's ticket released. Returns what was thrown.
 */
async function triedOnlyFirst(
  answer: Answer,
  setup: (ex: Exchange, attempt: Attempt) => void = () => {},
  headersSent = false,
): Promise<unknown> {
  const a = fakeUnit("a");
  const b = fakeUnit("b");
  const { deps, failovers } = chooser([a.unit, b.unit], []);
  const ex = exchange();
  const { attempt, steps, tickets } = fakeAttempt({ a: answer, b: 200 });
  setup(ex, attempt);
  const sending = sendToFirstThatAnswers(deps, ex, ctxWith(headersSent), [a.unit, b.unit], attempt);
  const thrown = await sending.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(steps).toEqual(["admit a", "send a"]);
  expect(tickets[0]?.released).toBe(1);
  expect(ex.tags.failedOver).toBeUndefined();
  expect(a.checks).toBe(0);
  expect(failovers).toEqual([]);
  return thrown;
}

const unreachable = (name: string) =>
  new SidecarError("upstream_unreachable", `llama-server at ${name} is unreachable (ECONNREFUSED)`);
const failed = (name: string) => new SidecarError("upstream_error", `llama-server at ${name} failed: socket hang up`);

describe("sendToFirstThatAnswers", () => {
  it("sends to the first unit, tagging it, and returns its answer with the ticket still held", async () => {
    const a = fakeUnit("a", { model: "qwen-router-model" });
    const b = fakeUnit("b");
    const { deps, calls, failovers } = chooser([a.unit, b.unit], []);
    const ex = exchange();
    ex.conversation = "s:one";
    const { attempt, steps, tickets } = fakeAttempt({ a: 200 });
    const sent = await sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit, b.unit], attempt);
    expect(sent.unit).toBe(a.unit);
    expect(sent.up.statusCode).toBe(200);
    expect(sent.out).toEqual({ unit: "a" });
    expect(sent.ticket).toBe(tickets[0]);
    expect(tickets[0]?.released).toBe(0);
    expect(steps).toEqual(["admit a", "send a"]);
    expect(ex.unit).toBe(a.unit);
    expect(ex.tags).toMatchObject({ upstream: "a", upstreamModel: "qwen-router-model" });
    expect(ex.tags.failedOver).toBeUndefined();
    expect(calls.served).toEqual([["s:one", "a"]]);
    expect(failovers).toEqual([]);
    expect(a.checks).toBe(0);
  });

  it("remembers no conversation where the request has none (one unit)", async () => {
    const a = fakeUnit("a");
    const { deps, calls } = chooser([a.unit], []);
    const { attempt } = fakeAttempt({ a: 200 });
    await sendToFirstThatAnswers(deps, exchange(), ctxWith(), [a.unit], attempt);
    expect(calls.served).toEqual([]);
  });

  it("leaves a unit that answered 503 for the next: its body read away, its ticket released, its health checked", async () => {
    const a = fakeUnit("a", { model: "router-a" });
    const b = fakeUnit("b");
    const { deps, calls, failovers } = chooser([a.unit, b.unit], []);
    const ex = exchange();
    ex.conversation = "h:abc";
    const { attempt, steps, tickets, responses } = fakeAttempt({ a: 503, b: 200 });
    const sent = await sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit, b.unit], attempt);
    expect(sent.unit).toBe(b.unit);
    expect(sent.ticket).toBe(tickets[1]);
    expect(steps).toEqual(["admit a", "send a", "admit b", "send b"]);
    expect(responses.map((r) => [r.unit, r.dumped()])).toEqual([
      ["a", 1],
      ["b", 0],
    ]);
    expect(tickets.map((t) => [t.unit, t.released])).toEqual([
      ["a", 1],
      ["b", 0],
    ]);
    expect(ex.tags.failedOver).toEqual(["a"]);
    // The tags name the unit that answered, not the one left: b is no router's model.
    expect(ex.tags.upstream).toBe("b");
    expect(ex.tags.upstreamModel).toBeUndefined();
    expect(ex.unit).toBe(b.unit);
    expect(a.checks).toBe(1);
    expect(b.checks).toBe(0);
    expect(failovers).toEqual([["a", "b", "answered 503 (loading)"]]);
    expect(calls.served).toEqual([["h:abc", "b"]]);
  });

  it("returns the last unit's 503 as its answer, its body unread", async () => {
    const a = fakeUnit("a");
    const b = fakeUnit("b");
    const { deps, failovers } = chooser([a.unit, b.unit], []);
    const ex = exchange();
    const { attempt, tickets, responses } = fakeAttempt({ a: 503, b: 503 });
    const sent = await sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit, b.unit], attempt);
    expect(sent.unit).toBe(b.unit);
    expect(sent.up.statusCode).toBe(503);
    expect(responses.find((r) => r.unit === "b")?.dumped()).toBe(0);
    expect(tickets.map((t) => t.released)).toEqual([1, 0]);
    expect(ex.tags.failedOver).toEqual(["a"]);
    expect(failovers).toHaveLength(1);
  });

  it("returns a 503 from a single unit as it is", async () => {
    const a = fakeUnit("a");
    const { deps } = chooser([a.unit], []);
    const { attempt, responses } = fakeAttempt({ a: 503 });
    const sent = await sendToFirstThatAnswers(deps, exchange(), ctxWith(), [a.unit], attempt);
    expect(sent.up.statusCode).toBe(503);
    expect(responses[0]?.dumped()).toBe(0);
  });

  it("does not fail over on another error status: a 500 or 429 is the answer", async () => {
    for (const status of [500, 429, 404]) {
      const a = fakeUnit("a");
      const b = fakeUnit("b");
      const { deps } = chooser([a.unit, b.unit], []);
      const { attempt, steps } = fakeAttempt({ a: status, b: 200 });
      const sent = await sendToFirstThatAnswers(deps, exchange(), ctxWith(), [a.unit, b.unit], attempt);
      expect(sent.up.statusCode).toBe(status);
      expect(steps).toEqual(["admit a", "send a"]);
    }
  });

  it("fails over on an unreachable or failed upstream, tagging each unit left in order", async () => {
    const a = fakeUnit("a");
    const b = fakeUnit("b");
    const c = fakeUnit("c");
    const units = [a.unit, b.unit, c.unit];
    const { deps, failovers } = chooser(units, []);
    const ex = exchange();
    const { attempt, tickets } = fakeAttempt({ a: unreachable("a"), b: failed("b"), c: 200 });
    const sent = await sendToFirstThatAnswers(deps, ex, ctxWith(), units, attempt);
    expect(sent.unit).toBe(c.unit);
    expect(ex.tags.failedOver).toEqual(["a", "b"]);
    expect(ex.tags.upstream).toBe("c");
    expect(tickets.map((t) => [t.unit, t.released])).toEqual([
      ["a", 1],
      ["b", 1],
      ["c", 0],
    ]);
    expect([a.checks, b.checks, c.checks]).toEqual([1, 1, 0]);
    expect(failovers).toEqual([
      ["a", "b", "llama-server at a is unreachable (ECONNREFUSED)"],
      ["b", "c", "llama-server at b failed: socket hang up"],
    ]);
  });

  it("never fails over on other errors: they are thrown, the ticket released, the next unit untried", async () => {
    const others = [
      new SidecarError("upstream_timeout", "llama-server timed out"),
      new SidecarError("client_closed", "the client closed the connection"),
      new SidecarError("overloaded", "queue full"),
      new Error("a bug"),
    ];
    for (const err of others) expect(await triedOnlyFirst(err)).toBe(err);
  });

  it("never fails over once the client has gone away", async () => {
    const err = unreachable("a");
    const thrown = await triedOnlyFirst(err, (ex, attempt) => {
      const send = attempt.send.bind(attempt);
      attempt.send = (unit) => {
        ex.cancel.abort();
        return send(unit);
      };
    });
    expect(thrown).toBe(err);
  });

  it("never fails over on a 503 once the client has gone away: the loading answer is thrown", async () => {
    const thrown = await triedOnlyFirst(503, (ex) => ex.cancel.abort());
    expect(thrown).toMatchObject({ message: "answered 503 (loading)" });
  });

  it("never fails over once the response's headers are out", async () => {
    const err = failed("a");
    expect(await triedOnlyFirst(err, () => {}, true)).toBe(err);
  });

  it("never fails over past the last unit: its error is thrown, its ticket released", async () => {
    const a = fakeUnit("a");
    const b = fakeUnit("b");
    const { deps, failovers } = chooser([a.unit, b.unit], []);
    const ex = exchange();
    const last = unreachable("b");
    const { attempt, tickets } = fakeAttempt({ a: unreachable("a"), b: last });
    await expect(sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit, b.unit], attempt)).rejects.toBe(last);
    expect(tickets.map((t) => t.released)).toEqual([1, 1]);
    expect(ex.tags.failedOver).toEqual(["a"]);
    expect(ex.tags.upstream).toBe("b");
    expect(b.checks).toBe(0);
    expect(failovers.map(([from, to]) => [from, to])).toEqual([["a", "b"]]);
  });

  it("fails over without a ticket to release where the request needs no admission", async () => {
    const a = fakeUnit("a");
    const b = fakeUnit("b");
    const { deps } = chooser([a.unit, b.unit], []);
    const ex = exchange("/props");
    const { attempt, steps } = fakeAttempt({ a: unreachable("a"), b: 200 }, { noTicket: true });
    const sent = await sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit, b.unit], attempt);
    expect(sent.unit).toBe(b.unit);
    expect(sent.ticket).toBeUndefined();
    expect(steps).toEqual(["admit a", "send a", "admit b", "send b"]);
  });

  it("throws an internal error when there is no unit to send to", async () => {
    const { deps } = chooser([], []);
    const { attempt, steps } = fakeAttempt({});
    await expect(sendToFirstThatAnswers(deps, exchange(), ctxWith(), [], attempt)).rejects.toMatchObject({
      code: "internal",
    });
    expect(steps).toEqual([]);
  });

  it("loads a router's model after admission and before sending, tagging the load time and that it set it off", async () => {
    const { attempt, steps } = fakeAttempt({ a: 200 });
    const load = async () => {
      steps.push("load a");
      return { waitedMs: 1234.6, triggered: true };
    };
    const a = fakeUnit("a", { model: "qwen", prepare: load });
    const { deps } = chooser([a.unit], []);
    const ex = exchange();
    await sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit], attempt);
    expect(steps).toEqual(["admit a", "load a", "send a"]);
    expect(a.prepared).toEqual([ex.cancel]);
    expect(ex.tags.modelLoadMs).toBe(1235);
    expect(ex.tags.modelLoaded).toBe(true);
  });

  it("tags the wait for a load another request set off, but not as this one's load", async () => {
    const a = fakeUnit("a", { model: "qwen", prepare: async () => ({ waitedMs: 40, triggered: false }) });
    const { deps } = chooser([a.unit], []);
    const ex = exchange();
    await sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit], fakeAttempt({ a: 200 }).attempt);
    expect(ex.tags.modelLoadMs).toBe(40);
    expect(ex.tags.modelLoaded).toBeUndefined();
  });

  it("tags no load where the model was ready (or the unit is no router's)", async () => {
    const ready = fakeUnit("ready", { model: "qwen", prepare: async () => undefined });
    const plain = fakeUnit("plain");
    for (const unit of [ready, plain]) {
      const { deps } = chooser([unit.unit], []);
      const ex = exchange();
      await sendToFirstThatAnswers(deps, ex, ctxWith(), [unit.unit], fakeAttempt({ [unit.unit.name]: 200 }).attempt);
      expect(ex.tags.modelLoadMs).toBeUndefined();
      expect(ex.tags.modelLoaded).toBeUndefined();
    }
    expect(ready.prepared).toHaveLength(1);
  });

  it("adds up the load waits of every unit tried", async () => {
    const a = fakeUnit("a", { model: "qwen", prepare: async () => ({ waitedMs: 10.4, triggered: false }) });
    const b = fakeUnit("b", { model: "qwen", prepare: async () => ({ waitedMs: 5.3, triggered: false }) });
    const { deps } = chooser([a.unit, b.unit], []);
    const ex = exchange();
    await sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit, b.unit], fakeAttempt({ a: 503, b: 200 }).attempt);
    expect(ex.tags.modelLoadMs).toBe(15);
  });

  it("fails over when the load itself finds the upstream unreachable, releasing the ticket, sending nothing", async () => {
    const a = fakeUnit("a", {
      model: "qwen",
      prepare: async () => {
        throw unreachable("a");
      },
    });
    const b = fakeUnit("b");
    const { deps } = chooser([a.unit, b.unit], []);
    const ex = exchange();
    const { attempt, steps, tickets } = fakeAttempt({ a: 200, b: 200 });
    const sent = await sendToFirstThatAnswers(deps, ex, ctxWith(), [a.unit, b.unit], attempt);
    expect(sent.unit).toBe(b.unit);
    expect(steps).toEqual(["admit a", "admit b", "send b"]);
    expect(tickets[0]?.released).toBe(1);
    expect(ex.tags.failedOver).toEqual(["a"]);
  });
});
