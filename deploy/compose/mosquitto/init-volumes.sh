#!/bin/sh
# One-shot before Mosquitto starts (compose service "volume-init", as root, no network): give
# Mosquitto's volumes to the uid that the gateway and Mosquitto share (the gateway writes the
# password and ACL files, mode 0600, and Mosquitto must read them), and put empty files in place
# so Mosquitto can start before the gateway has written the real ones (every client is refused
# until then).
#
#   init-volumes.sh UID DATA_DIR AUTH_DIR
set -eu
uid=${1:?uid}
data=${2:?data dir}
auth=${3:?auth dir}
for f in passwd acl; do
  [ -e "$auth/$f" ] || : >"$auth/$f"
done
chown "$uid:$uid" "$data" "$auth" "$auth/passwd" "$auth/acl"
chmod 0700 "$data" "$auth"
chmod 0600 "$auth/passwd" "$auth/acl"
echo "init-volumes: $data and $auth belong to uid $uid"
