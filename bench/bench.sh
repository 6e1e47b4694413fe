#!/usr/bin/env bash
# make bench: installs HAProxy, nginx (with its stream module) and wrk when
# missing, raises the fd limit, builds krbfarm and the bench, and runs
# bench/run: krbfarm lb vs HAProxy vs nginx stream on loopback, every metric
# in interleaved rounds, each server's CPU per request, in both layouts.
# Env: BENCH_DURATION (3s per run), BENCH_ROUNDS (12), BENCH_LAYOUTS
# (pinned,unpinned on 2+ CPUs; BENCH_PIN=1 or 0 picks one), BENCH_IDLE_CONNS
# (10000), BENCH_OUT (bench/results.json), BENCH_KEEP (keep the temp dir),
# BENCH_ENGINES (epoll; e.g. epoll,goroutine adds a krbfarm-goroutine column).
# The system's nginx and haproxy services are never touched: the bench runs
# its own instances from temp configs and stops them by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

need=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
if ! ls /usr/lib/nginx/modules/ngx_stream_module.so >/dev/null 2>&1 &&
   ! { command -v nginx >/dev/null 2>&1 && nginx -V 2>&1 | grep -q -- '--with-stream '; }; then
  need+=(libnginx-mod-stream)
fi
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ ${#need[@]} -eq 0 ] || scripts/apt-install.sh bench "${need[@]}"
export PATH="$PATH:/usr/sbin:/sbin"

# 10,000 idle proxied connections need more than 20,000 fds in each
# balancer: raise the soft limit as far as the hard one allows.
want=1048576
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "bench: ulimit -n $(ulimit -n)"

bench_build
bench_pids
./bin/krbfarm-bench -out "${BENCH_OUT:-bench/results.json}" -krbfarm bin/krbfarm -pids "$pids" "$@"
