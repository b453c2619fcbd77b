# syntax=docker/dockerfile:1
# tsmatrix homeserver image.
#   docker build -t tsmatrix .
#   docker run -d --name hs -p 8008:8008 -v tsmatrix-data:/data -e SERVER_NAME=example.org tsmatrix
# On first start, when $TSMATRIX_CONFIG (default /data/homeserver.yaml) does not exist, a config for
# $SERVER_NAME is generated that keeps everything in /data and listens on 0.0.0.0:8008; edit it
# there afterwards. Arguments replace the default command: `docker run ... tsmatrix generate-keys`.

# --- build: compile TypeScript and the native modules (better-sqlite3, argon2) ---------------------
FROM node:24-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# --- runtime --------------------------------------------------------------------------------------
FROM node:24-slim
ENV NODE_ENV=production \
    SERVER_NAME=localhost:8008 \
    TSMATRIX_CONFIG=/data/homeserver.yaml
# Memory of a small homeserver (Client-Server benchmark (d), idle RSS; bench/client.bench.ts runs its
# server the same way): V8's young generation at most 2 x 2 MB instead of 2 x 16 MB (the start-up
# growth otherwise lingers until V8's memory reducer gives it back), two V8 helper threads instead of
# four, two malloc arenas instead of up to eight per core. Measured on 2 cores with Node 20: idle RSS
# 74-75 -> 72 MB, 1 s after start 103-106 -> 86 MB, after sending 6,000 messages 137 -> 108 MB, same CPU
# time per message.
# Replace with `docker run -e NODE_OPTIONS=... -e MALLOC_ARENA_MAX=...` on a large machine.
ENV NODE_OPTIONS="--max-semi-space-size=2 --v8-pool-size=2" \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json config.example.yaml ./
COPY migrations ./migrations
COPY --chmod=755 <<'EOF' /usr/local/bin/tsmatrix-entrypoint
#!/bin/sh
set -e
if [ "$#" -gt 0 ]; then exec node /app/dist/main.js "$@"; fi
if [ ! -f "$TSMATRIX_CONFIG" ]; then
  node /app/dist/main.js generate-config --server-name "$SERVER_NAME" --data-dir /data --bind 0.0.0.0 > "$TSMATRIX_CONFIG.tmp"
  mv "$TSMATRIX_CONFIG.tmp" "$TSMATRIX_CONFIG"
  echo "generated $TSMATRIX_CONFIG for server name $SERVER_NAME"
fi
# exec: node replaces the shell, so `docker stop` (SIGTERM) reaches it and it shuts down gracefully.
exec node /app/dist/main.js serve --config "$TSMATRIX_CONFIG"
EOF
# A fixed non-root user that owns the data volume.
RUN groupadd --system --gid 991 tsmatrix \
 && useradd --system --uid 991 --gid tsmatrix --home-dir /data --shell /usr/sbin/nologin tsmatrix \
 && mkdir -p /data && chown tsmatrix:tsmatrix /data
USER tsmatrix
VOLUME /data
EXPOSE 8008 8448
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8008/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/local/bin/tsmatrix-entrypoint"]
