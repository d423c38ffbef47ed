#!/bin/sh
# Mosquitto's container command (compose.yaml): run Mosquitto, and make it re-read its password
# and ACL files (SIGHUP) when the gateway rewrites them after a site is added, changed or
# disabled. SIGTERM is passed on, so Mosquitto saves its sessions and queued events before it
# exits. POSIX sh (busybox in the eclipse-mosquitto image, dash on Debian).
#
#   run.sh [CONFIG [WATCHED_FILE…]]   defaults: /mosquitto/config/mosquitto.conf,
#                                     /mosquitto/auth/passwd /mosquitto/auth/acl
# MOSQUITTO_WATCH_INTERVAL_S (default 5): how often the files are compared.
conf=${1:-/mosquitto/config/mosquitto.conf}
[ "$#" -gt 0 ] && shift
[ "$#" -gt 0 ] || set -- /mosquitto/auth/passwd /mosquitto/auth/acl
interval=${MOSQUITTO_WATCH_INTERVAL_S:-5}

signature() { cat "$@" 2>/dev/null | cksum; }

mosquitto -c "$conf" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
last=$(signature "$@")
while kill -0 "$pid" 2>/dev/null; do
  # sleep in the background so a SIGTERM is handled at once, not after the sleep
  sleep "$interval" &
  wait $! 2>/dev/null
  now=$(signature "$@")
  if [ "$now" != "$last" ] && kill -0 "$pid" 2>/dev/null; then
    last=$now
    echo "run.sh: password/ACL files changed: Mosquitto re-reads them"
    kill -HUP "$pid"
  fi
done
wait "$pid"
