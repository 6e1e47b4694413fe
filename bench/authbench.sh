#!/usr/bin/env bash
# make authbench: installs Apache 2.4, mod_auth_gssapi and the MIT KDC when
# missing, builds krbfarm and the bench, and runs `krbfarm-bench auth`:
# an IIS-like krbfarm backend vs Apache mod_auth_gssapi, each pinned to
# one core, a Go load generator sending a fresh Kerberos token per request
# on the other. Env: BENCH_DURATION (5s per run), BENCH_ROUNDS (5),
# BENCH_AUTH_CONNS (32), BENCH_SOAK (off; e.g. 10m: then the krbfarm host
# at full load that long, its RSS every 10s), BENCH_AUTH_OUT
# (bench/authresults.json), BENCH_KEEP (keep the temp dir).
# The system's apache2 service is never touched: the bench runs its own
# instance from a temp config and stops it by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"

need=()
bench_need_krb5_apache
[ ${#need[@]} -eq 0 ] || scripts/apt-install.sh authbench "${need[@]}"

bench_build
bench_pids
./bin/krbfarm-bench auth -out "${BENCH_AUTH_OUT:-bench/authresults.json}" -krbfarm bin/krbfarm -pids "$pids" "$@"
