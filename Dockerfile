# llama-sidecar container: built on the current Node LTS (26), production dependencies only, runs as a non-root
# user. Installed with npm ci from the lockfile, so every build gets the same packages.

FROM node:26-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:26-slim
ENV NODE_ENV=production \
    LLAMA_SIDECAR_HOST=0.0.0.0 \
    LLAMA_SIDECAR_PORT=9090 \
    LLAMA_SIDECAR_DATA_DIR=/data \
    LLAMA_SIDECAR_LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The data dir holds the lifetime totals and history: a volume, owned by the unprivileged user.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9090
# The key goes along for --protect-metrics (from the env var or the key file, as the sidecar reads it).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const e=process.env,f=e.LLAMA_SIDECAR_API_KEY_FILE;let k=e.LLAMA_SIDECAR_API_KEY||'';try{if(f)k=require('fs').readFileSync(f,'utf8').split('\\n')[0].trim()}catch{}fetch('http://127.0.0.1:'+(e.LLAMA_SIDECAR_PORT||9090)+'/healthz',{headers:k?{'x-api-key':k}:{}}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/cli.js"]
