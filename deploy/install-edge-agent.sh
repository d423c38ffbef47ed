#!/usr/bin/env bash
# Install the sharpeyes edge agent as a systemd service on a bare NVR (Debian/Ubuntu with
# systemd, Node.js 20, ffmpeg). Run as root from the unpacked release (this tree, with
# node_modules installed by `npm ci`): the service runs the program from this tree, in place.
#
#   deploy/install-edge-agent.sh --site-id village-7 --mqtt-url mqtts://centre.example.org:8883 \
#       --ca-file ca.crt --mqtt-password-file site.pw
#
# What it does (each step is skipped when already done; existing configuration is never
# overwritten):
#   1. the service user sharpeyes-edge (systemd-sysusers; /usr/lib/sysusers.d/sharpeyes-edge.conf)
#   2. /etc/sharpeyes/edge-agent.json from deploy/systemd/edge-agent.example.json (0640, group
#      sharpeyes-edge), edge-agent.env for secrets (0600), the CA and the MQTT password (0640)
#   3. /etc/systemd/system/sharpeyes-edge-agent.service, pointing at this tree
#   4. enable it, and start it unless --no-start
#
# Options:
#   --root DIR            install into DIR as a system image (DESTDIR): users are made in
#                         DIR/etc/passwd, the unit is enabled offline, nothing is started and
#                         nothing outside DIR changes (used by the tests)
#   --prefix DIR          where the program tree will be on the target (default: this tree)
#   --site-id ID          the site id (required for a new configuration)
#   --mqtt-url URL        the centre's broker, mqtts://HOST:8883 (required for a new configuration)
#   --ca-file FILE        the site CA certificate (copied to /etc/sharpeyes/ca.crt)
#   --mqtt-password-file FILE   this site's MQTT password (copied to /etc/sharpeyes/edge-mqtt.password)
#   --no-start            enable but do not start
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/.." && pwd)
root=/
prefix=$tree
site_id=""
mqtt_url=""
ca_file=""
pw_file=""
start=1
unit_name=sharpeyes-edge-agent.service
user=sharpeyes-edge

die() {
  printf 'install-edge-agent: %s\n' "$*" >&2
  exit 1
}
say() { printf 'install-edge-agent: %s\n' "$*"; }

while (($# > 0)); do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --site-id) site_id="${2:?--site-id needs a value}"; shift 2 ;;
    --mqtt-url) mqtt_url="${2:?--mqtt-url needs a value}"; shift 2 ;;
    --ca-file) ca_file="${2:?--ca-file needs a file}"; shift 2 ;;
    --mqtt-password-file) pw_file="${2:?--mqtt-password-file needs a file}"; shift 2 ;;
    --no-start) start=0; shift ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

((EUID == 0)) || die "run as root (it creates a system user and installs a systemd unit)"
[[ -d $root ]] || die "--root $root is not a directory"
root=$(cd "$root" && pwd)
offline=0
[[ $root == / ]] || offline=1
dest() { if ((offline)); then printf '%s%s' "$root" "$1"; else printf '%s' "$1"; fi; }
[[ $prefix == /* ]] || die "--prefix must be an absolute path"
[[ -z $site_id || $site_id =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "--site-id must be 1–64 of [A-Za-z0-9._-]"
[[ -z $mqtt_url || $mqtt_url =~ ^mqtts?://[^[:space:]/@]+(:[0-9]{1,5})?/?$ ]] || die "--mqtt-url must be mqtts://HOST:PORT"
[[ -z $ca_file || -r $ca_file ]] || die "--ca-file $ca_file is not readable"
[[ -z $pw_file || -r $pw_file ]] || die "--mqtt-password-file $pw_file is not readable"

# --- what the program needs (on the target: checked only when installing on this system) ------
[[ -x $tree/edge-agent/bin/edge-agent && -d $tree/node_modules/tsx ]] ||
  die "$tree has no installed edge agent: run \`npm ci\` in it first"
if ((!offline)); then
  node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  ((node_major >= 20)) || die "Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none))"
  command -v ffmpeg >/dev/null || die "ffmpeg is needed: apt-get install --no-install-recommends ffmpeg"
  command -v systemctl >/dev/null || die "systemd is needed"
fi

# --- 1. the service user ----------------------------------------------------------------------
sysusers_conf=$(dest /usr/lib/sysusers.d/sharpeyes-edge.conf)
install -D -m 0644 "$here/systemd/sharpeyes-edge.sysusers" "$sysusers_conf"
if command -v systemd-sysusers >/dev/null; then
  if ((offline)); then
    install -d -m 0755 "$root/etc"
    systemd-sysusers --root="$root" "$sysusers_conf" >/dev/null
  else
    systemd-sysusers "$sysusers_conf" >/dev/null
  fi
elif ((offline)); then
  die "systemd-sysusers is needed for --root"
elif ! getent passwd "$user" >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/sharpeyes-edge --no-create-home \
    --shell /usr/sbin/nologin --comment "sharpeyes edge agent" "$user"
fi
# The group id as the target sees it (the real one, or DIR/etc/group's).
gid=$(awk -F: -v u="$user" '$1 == u { print $3 }' "$(dest /etc/group)")
[[ -n $gid ]] || die "group $user was not created"
say "service user $user (gid $gid)"

# --- 2. configuration -------------------------------------------------------------------------
etc=$(dest /etc/sharpeyes)
install -d -m 0750 -o 0 -g "$gid" "$etc"
config="$etc/edge-agent.json"
if [[ -f $config ]]; then
  say "keeping the existing $config"
else
  [[ -n $site_id ]] || die "--site-id is needed for a new configuration"
  [[ -n $mqtt_url ]] || die "--mqtt-url is needed for a new configuration"
  tmp="$config.tmp.$$"
  sed -e "s|@SITE_ID@|$site_id|" -e "s|@MQTT_URL@|$mqtt_url|" "$here/systemd/edge-agent.example.json" >"$tmp"
  chown "0:$gid" "$tmp"
  chmod 0640 "$tmp"
  mv "$tmp" "$config"
  say "wrote $config (site $site_id, broker $mqtt_url): add cameras, see docs/ops.md"
fi
env_file="$etc/edge-agent.env"
if [[ ! -f $env_file ]]; then
  printf '# Environment of the edge agent (systemd EnvironmentFile, root only).\n# SHARPEYES_EDGE_PASSWORD=the cameras'"'"' password (with default_credentials in edge-agent.json)\n# LOG_LEVEL=info\n' >"$env_file"
  chmod 0600 "$env_file"
fi
if [[ -n $ca_file ]]; then
  install -m 0644 "$ca_file" "$etc/ca.crt"
  say "installed the CA certificate $etc/ca.crt"
fi
if [[ -n $pw_file ]]; then
  install -m 0640 -o 0 -g "$gid" "$pw_file" "$etc/edge-mqtt.password"
  say "installed the MQTT password $etc/edge-mqtt.password"
fi

# --- 3. the unit -----------------------------------------------------------------------------
unit=$(dest "/etc/systemd/system/$unit_name")
install -d -m 0755 "$(dirname "$unit")"
sed -e "s|/opt/sharpeyes|$prefix|g" "$here/systemd/$unit_name" >"$unit.tmp.$$"
chmod 0644 "$unit.tmp.$$"
mv "$unit.tmp.$$" "$unit"
say "installed $unit (program in $prefix)"

# --- 4. enable (and start) --------------------------------------------------------------------
if ((offline)); then
  systemctl --root="$root" enable "$unit_name" >/dev/null 2>&1 ||
    die "systemctl --root=$root enable $unit_name failed"
  say "enabled $unit_name in $root (not started: --root)"
else
  systemctl daemon-reload
  if ((start)); then
    systemctl enable --now "$unit_name"
    say "started $unit_name: journalctl -u $unit_name -f; curl -s http://127.0.0.1:9464/healthz"
  else
    systemctl enable "$unit_name"
    say "enabled $unit_name (start it with: systemctl start $unit_name)"
  fi
fi
