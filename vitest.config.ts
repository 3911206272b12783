import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Real llama-server tests are CPU-heavy on a 2-core machine: one file at a time keeps timings honest.
    fileParallelism: false,
    reporters: ["default"],
  },
});
