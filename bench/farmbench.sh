#!/usr/bin/env bash
# make farmbench: installs HAProxy, Apache 2.4, mod_auth_gssapi and the MIT
# KDC when missing, builds krbfarm and the bench, and runs
# `krbfarm-bench farm`: the whole farm through its TLS front door,
# `krbfarm up` (its LB terminating TLS, 2 hosts) vs HAProxy terminating
# TLS (mode tcp) in front of 2 Apache mod_auth_gssapi hosts, every farm
# process on CPU 1, a Go load generator sending a fresh Kerberos token per
# request on CPU 0. Env: BENCH_DURATION (5s per run), BENCH_ROUNDS (5),
# BENCH_FARM_CONNS (32), BENCH_FARM_OUT (bench/farmresults.json),
# BENCH_KEEP (keep the temp dir).
# The system's apache2 and haproxy services are never touched: the bench
# runs its own instances from temp configs and stops them by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"

need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
bench_need_krb5_apache
[ ${#need[@]} -eq 0 ] || scripts/apt-install.sh farmbench "${need[@]}"

bench_build
bench_pids
./bin/krbfarm-bench farm -out "${BENCH_FARM_OUT:-bench/farmresults.json}" -krbfarm bin/krbfarm -pids "$pids" "$@"
