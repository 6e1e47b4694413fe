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
export PATH="$PATH:/usr/sbin:/sbin"

need=()
command -v apache2 >/dev/null 2>&1 || need+=(apache2)
[ -e /usr/lib/apache2/modules/mod_auth_gssapi.so ] || need+=(libapache2-mod-auth-gssapi)
command -v krb5kdc >/dev/null 2>&1 || need+=(krb5-kdc)
command -v kadmin.local >/dev/null 2>&1 || need+=(krb5-admin-server)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
[ ${#need[@]} -eq 0 ] || scripts/apt-install.sh authbench "${need[@]}"

go build -o bin/krbfarm ./cmd/krbfarm
go build -o bin/krbfarm-bench ./bench/run

# krbfarm-bench stops everything it starts; this trap is for when it is
# killed itself: it stops the PIDs it recorded.
pids=$(mktemp)
cleanup() {
  if [ -s "$pids" ]; then
    while read -r pid _; do kill -TERM "$pid" 2>/dev/null || true; done <"$pids"
  fi
  rm -f "$pids"
}
trap cleanup EXIT INT TERM
./bin/krbfarm-bench auth -out "${BENCH_AUTH_OUT:-bench/authresults.json}" -krbfarm bin/krbfarm -pids "$pids" "$@"
