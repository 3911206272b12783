// Runs an async task now and then again every interval after it settles (never two at once), until stopped.

export interface Poller {
  stop(): void;
}

export function pollEvery(intervalMs: number, task: () => Promise<unknown>): Poller {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    if (stopped) return;
    await task();
    if (!stopped) timer = setTimeout(loop, intervalMs).unref();
  };
  void loop();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
