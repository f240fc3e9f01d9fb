#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL cluster for tests, listening on 127.0.0.1 only, with
# every file under DIR. PostgreSQL refuses to run as root, so as root the cluster runs as the
# postgres user.
#
# Usage:
#   scripts/postgres.sh start DIR    writes DIR/url, a postgresql:// URL of the database `library`
#   scripts/postgres.sh stop DIR
set -euo pipefail

usage() {
  echo 'usage: scripts/postgres.sh start DIR | scripts/postgres.sh stop DIR' >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
command=$1
dir=$(realpath -m "$2")

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [[ -z $bindir ]]; then
  echo 'postgres.sh: PostgreSQL is not installed; install the Debian package postgresql.' >&2
  exit 3
fi

as_owner() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $command in
start)
  mkdir -p "$dir"
  [[ $(id -u) == 0 ]] && chown postgres "$dir"
  as_owner "$bindir/initdb" -D "$dir/data" -U library --auth=trust >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" >/dev/null
  as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U library library
  echo "postgresql://library@127.0.0.1:$port/library" >"$dir/url"
  ;;
stop)
  if [[ -d $dir/data ]]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  ;;
*) usage ;;
esac
