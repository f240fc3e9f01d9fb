#!/usr/bin/env bash
# Starts and stops a throwaway single-node Ceph cluster for tests: one monitor, one OSD on
# memstore (data in RAM) and radosgw, all listening on 127.0.0.1 only, with every file under DIR.
#
# Usage:
#   scripts/ceph.sh start DIR [--watch PID]   DIR must be empty or missing
#   scripts/ceph.sh stop DIR
#
# `start` writes:
#   DIR/ceph.conf     the cluster's configuration; pass it with `-c` to ceph, rbd and rados
#   DIR/keyring       every key of the cluster, client.admin included
#   DIR/s3.env        S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY of an S3 user
# and creates the pool `rbd` for RBD images. The OSD keeps at most CEPH_MEMSTORE_BYTES of data
# (default 1 GiB) in RAM. With --watch, the cluster stops by itself once
# process PID exits, so a test run that crashes leaves no daemons behind.
#
# When the Ceph packages are missing, `start` installs them if it runs as root and otherwise
# exits with status 3. It never reads /etc/ceph and stops only daemons that it started in DIR.
set -euo pipefail

packages=(ceph-mon ceph-osd ceph-mgr ceph-common radosgw)
start_timeout_s=60
missing_packages_status=3
memstore_bytes=${CEPH_MEMSTORE_BYTES:-1073741824}

usage() {
  echo 'usage: scripts/ceph.sh start DIR [--watch PID] | scripts/ceph.sh stop DIR' >&2
  exit 2
}

fail() {
  echo "ceph.sh: $*" >&2
  exit 1
}

[[ $memstore_bytes =~ ^[1-9][0-9]*$ ]] ||
  fail "CEPH_MEMSTORE_BYTES must be a positive number of bytes, got $memstore_bytes"

install_packages() {
  local missing=() package
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$package")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then return; fi
  if [[ $(id -u) != 0 ]]; then
    echo "ceph.sh: the Ceph packages ${missing[*]} are missing; install them as root with" \
      "apt-get install -y ${packages[*]}" >&2
    exit "$missing_packages_status"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
}

# Prints a TCP port on 127.0.0.1 that is free now. Another process may take it before the
# daemon binds it; the daemon then fails to start and `start` reports it.
free_port() {
  node -e "const s = require('node:net').createServer()
    s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })"
}

# Runs the ceph CLI against this cluster only.
ceph_cli() {
  ceph -c "$dir/ceph.conf" --connect-timeout 10 "$@"
}

write_config() {
  local fsid=$1 mon_port=$2 rgw_port=$3
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_port]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
keyring = $dir/keyring
run_dir = $dir/run
log_file = $dir/log/\$name.log
log_to_stderr = false
err_to_stderr = true
client_mount_timeout = 30
auth_allow_insecure_global_id_reclaim = false
# The default paxos_propose_interval of 1 s delays every pool change by up to a second, and
# radosgw creates several pools on its first start.
paxos_propose_interval = 0.01
paxos_min_wait = 0.01
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
# The test machine's disk may be mostly full; the monitor would refuse to start.
mon_data_avail_warn = 2
mon_data_avail_crit = 1

[mon]
mon_data = $dir/mon
mon_allow_pool_delete = true

[mgr]
mgr_data = $dir/mgr
# The manager only has to pass the OSD usage on to the monitor, for "ceph df": report every
# second and load none of its Python modules.
mgr_stats_period = 1
mon_mgr_digest_period = 1
mgr_initial_modules =
mgr_disabled_modules = balancer crash devicehealth diskprediction_local iostat nfs orchestrator pg_autoscaler progress rbd_support restful status telemetry volumes

[osd]
osd_data = $dir/osd
osd_objectstore = memstore
memstore_device_bytes = $memstore_bytes

[client.rgw]
rgw_data = $dir/rgw
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_enable_usage_log = false
EOF
}

make_keys() {
  local keyring=$dir/keyring
  ceph-authtool --create-keyring "$keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' \
    --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  ceph-authtool "$keyring" --gen-key -n mgr.x --cap mon 'allow profile mgr' \
    --cap osd 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$keyring" --gen-key -n client.rgw --cap mon 'allow rw' \
    --cap osd 'allow rwx' >/dev/null
  chmod 0640 "$keyring"
}

# Starts a daemon in the foreground of a new session, so that it outlives this script and a
# terminal's signals do not reach it, and records its pid for `stop`.
start_daemon() {
  local name=$1
  shift
  setsid "$@" -f -c "$dir/ceph.conf" "${run_as[@]}" </dev/null >>"$dir/log/$name.out" 2>&1 &
  echo "$!" >>"$dir/daemons"
}

wait_until() {
  local what=$1
  shift
  local deadline=$((SECONDS + start_timeout_s))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      fail "$what did not come up within ${start_timeout_s}s; see $dir/log"
    fi
    sleep 0.1
  done
}

osd_is_up() {
  [[ $(ceph_cli osd dump --format json | grep -o '"up":1' | head -1) == '"up":1' ]]
}

capacity_is_known() {
  ! ceph_cli df --format json | grep -q '"total_bytes":0,'
}

rgw_answers() {
  node -e "fetch(process.argv[1]).then(() => process.exit(0), () => process.exit(1))" "$1"
}

start() {
  [[ -e $dir && -n $(ls -A "$dir") ]] && fail "$dir is not empty"
  install_packages
  mkdir -p "$dir"/{mon,mgr,osd,rgw,run,log}
  : >"$dir/daemons"

  run_as=()
  [[ $(id -u) == 0 ]] && run_as=(--setuser ceph --setgroup ceph)

  local fsid mon_port rgw_port osd_uuid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  mon_port=$(free_port)
  rgw_port=$(free_port)
  write_config "$fsid" "$mon_port" "$rgw_port"
  make_keys
  [[ $(id -u) == 0 ]] && chown -R ceph:ceph "$dir"

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon --mkfs -i a -c "$dir/ceph.conf" --monmap "$dir/monmap" \
    --keyring "$dir/keyring" "${run_as[@]}"
  ceph-osd --mkfs -i 0 -c "$dir/ceph.conf" --no-mon-config --osd-uuid "$osd_uuid" "${run_as[@]}" \
    >>"$dir/log/osd.0.out" 2>&1 || fail "ceph-osd --mkfs failed; see $dir/log/osd.0.out"

  start_daemon mon.a ceph-mon -i a
  [[ -n $watch_pid ]] && start_watchdog
  local setup_log=$dir/log/setup.log
  ceph_cli osd new "$osd_uuid" 0 >>"$setup_log" 2>&1
  start_daemon mgr.x ceph-mgr -i x
  start_daemon osd.0 ceph-osd -i 0
  ceph_cli osd pool create rbd 8 >>"$setup_log" 2>&1
  ceph_cli osd pool application enable rbd rbd >>"$setup_log" 2>&1
  wait_until 'the OSD' osd_is_up

  start_daemon rgw radosgw -n client.rgw
  wait_until 'radosgw' rgw_answers "http://127.0.0.1:$rgw_port/"
  local access_key secret_key
  access_key=$(head -c 10 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
  secret_key=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
  radosgw-admin -c "$dir/ceph.conf" -n client.admin user create --uid tests \
    --display-name tests --access-key "$access_key" --secret-key "$secret_key" \
    >>"$setup_log" 2>&1
  wait_until 'the usage report of ceph df' capacity_is_known

  cat >"$dir/s3.env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$rgw_port
S3_REGION=default
S3_ACCESS_KEY=$access_key
S3_SECRET_KEY=$secret_key
EOF
  chmod 0600 "$dir/s3.env"
}

# Stops the cluster once the watched process exits; it runs in its own session like the
# daemons, and `stop` ends it too.
start_watchdog() {
  local script
  script=$(realpath "$0")
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" stop "$3"' \
    ceph-watchdog "$watch_pid" "$script" "$dir" </dev/null >/dev/null 2>&1 &
  echo "$!" >"$dir/watchdog"
}

# True when PID is alive and was started for DIR, so a reused pid is never signalled.
is_ours() {
  local pid=$1
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -e "$dir/" -e "$dir "
}

stop() {
  [[ -f $dir/daemons ]] || return 0
  local pids=() pid
  while read -r pid; do
    if [[ -n $pid ]] && is_ours "$pid"; then pids+=("$pid"); fi
  done <"$dir/daemons"
  if [[ -f $dir/watchdog ]]; then
    pid=$(<"$dir/watchdog")
    # The watchdog itself calls `stop`; it must not end itself.
    if [[ $pid != "$$" && $pid != "$PPID" ]] && is_ours "$pid"; then kill "$pid" 2>/dev/null || true; fi
  fi
  [[ ${#pids[@]} -eq 0 ]] && return 0

  # The cluster is throwaway, so SIGKILL ends it at once. With SIGTERM, ceph-mgr 16 took more
  # than 10 s to exit, and an OSD waits up to 5 s for the monitor to acknowledge its shutdown.
  kill -KILL "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  for pid in "${pids[@]}"; do
    while is_running "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
  done
  : >"$dir/daemons"
}

# True while PID exists and is not a zombie: the daemons' parent is init, which reaps them.
is_running() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

[[ $# -ge 2 ]] || usage
command=$1
dir=$(realpath -m "$2")
shift 2
watch_pid=''
if [[ $# -eq 2 && $1 == --watch ]]; then
  watch_pid=$2
elif [[ $# -ne 0 ]]; then
  usage
fi
case $command in
  start)
    # A start that fails halfway stops what it started.
    trap 'status=$?; if [[ $status -ne 0 && $status -ne $missing_packages_status ]]; then stop; fi' EXIT
    start
    ;;
  stop) stop ;;
  *) usage ;;
esac
