#!/usr/bin/env bash
# One command: install dependencies, build dist/bunker, install it as /usr/local/bin/bunker and start the
# daemon on its embedded defaults (data root /var/lib/bunker, socket /run/bunker.sock). As root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
install -m 0755 dist/bunker /usr/local/bin/bunker
if [ -S /run/bunker.sock ] && curl -fsS --unix-socket /run/bunker.sock http://localhost/_ping >/dev/null 2>&1; then
  echo "a bunker daemon already answers on /run/bunker.sock"
  exit 0
fi
nohup /usr/local/bin/bunker daemon >>/var/log/bunker.log 2>&1 &
for _ in $(seq 1 100); do
  [ -S /run/bunker.sock ] && break
  sleep 0.1
done
/usr/local/bin/bunker version
echo "daemon running (pid $(cat /run/bunker.pid)), logs in /var/log/bunker.log"
