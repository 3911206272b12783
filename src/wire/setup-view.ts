// What a client needs to be set up for this sidecar (GET /api/setup): `llama-sidecar claude` and `env` read it.

export interface SetupView {
  version: string;
  upstream: {
    /** online, loading or unreachable. */
    state: string;
    /** The model llama-server serves (its alias, or its file). */
    model?: string;
    /** Context size per slot: what one conversation can hold. */
    nCtx?: number;
    slots?: number;
  };
  /** The sidecar asks for its API key on model routes. */
  keyRequired: boolean;
}
