#!/usr/bin/env bash
# Make this machine ready to run sharpeyes' demo and tests. Both README commands call it.
#
# - installs the Debian packages that are missing (apt-get, as root or through sudo);
# - runs `npm ci` when node_modules is missing or older than package-lock.json;
# - says nothing when everything is already there; exits non-zero with the fix when it
#   cannot install something.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf 'setup: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}

# System packages, by what needs them.
packages=(
  influxdb  # the event index (influxd 1.x, v1 HTTP API), run as a child process
  mosquitto # external-broker tests and deployments
  ffmpeg    # capture on the edge; scene generation and frame checks in tests
  # GStreamer RTSP server (Python GI) serving the simulated cameras' streams
  python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  fonts-wqy-zenhei # CJK font: synthetic plates and shop signs in the scenes
  python3-skimage  # public-domain test photos (astronaut.png, camera.png)
  chromium         # UI tests (headless)
  iproute2         # network namespaces for multicast discovery tests
)

# --- Node ---------------------------------------------------------------------------------
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  die "Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none)). Install it, then run this again."
fi

# --- Debian packages ----------------------------------------------------------------------
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
  command -v apt-get >/dev/null || die "apt-get not found: this setup supports Debian/Ubuntu. Install by hand: ${missing[*]}"
  if ((EUID == 0)); then
    as_root=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    die "missing system packages: ${missing[*]}
  They are installed with apt, which needs root, and this user is not root and cannot use sudo
  without a password. Run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  say "installing system packages: ${missing[*]}"
  had_influx=$(dpkg-query -W -f='${Status}' influxdb 2>/dev/null || true)
  had_mosquitto=$(dpkg-query -W -f='${Status}' mosquitto 2>/dev/null || true)
  log=$(mktemp "${TMPDIR:-/tmp}/sharpeyes-apt-XXXXXX.log")
  export DEBIAN_FRONTEND=noninteractive
  if ! { "${as_root[@]}" apt-get update -q && "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get could not install: ${missing[*]} (full log: $log)"
  fi
  rm -f "$log"
  # The Debian packages enable system-wide influxd and mosquitto listening on all addresses.
  # sharpeyes runs its own instances on loopback, so the ones we just installed are stopped.
  if [[ -d /run/systemd/system ]]; then
    [[ $had_influx == "install ok installed" ]] || "${as_root[@]}" systemctl disable --now influxdb >/dev/null 2>&1 || true
    [[ $had_mosquitto == "install ok installed" ]] || "${as_root[@]}" systemctl disable --now mosquitto >/dev/null 2>&1 || true
  fi
  say "system packages installed"
fi

# --- npm dependencies ---------------------------------------------------------------------
stamp=node_modules/.sharpeyes-setup-stamp
want=$(sha256sum package-lock.json package.json .npmrc | sha256sum | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [[ ! -d node_modules || $want != "$have" ]]; then
  say "installing npm dependencies (npm ci)"
  log=$(mktemp "${TMPDIR:-/tmp}/sharpeyes-npm-XXXXXX.log")
  # Belt and braces with .npmrc: onnxruntime-node must not download CUDA from outside npm.
  if ! ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "npm ci failed (full log: $log)"
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
fi

# --- web UI -------------------------------------------------------------------------------
# gateway/ui/dist is built, not committed: rebuilt when missing or older than any UI source.
ui_index=gateway/ui/dist/index.html
if [[ ! -f $ui_index ]] || [[ -n $(find gateway/ui -path gateway/ui/dist -prune -o -type f -newer "$ui_index" -print -quit) ]]; then
  say "building the web UI (scripts/build-ui.sh)"
  log=$(mktemp "${TMPDIR:-/tmp}/sharpeyes-ui-XXXXXX.log")
  if ! bash scripts/build-ui.sh >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "the web UI did not build (full log: $log)"
  fi
  rm -f "$log"
fi
