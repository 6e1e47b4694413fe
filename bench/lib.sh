# Sourced by bench.sh, authbench.sh and farmbench.sh, from the repository
# root: what the three share.

# bench_build builds bin/krbfarm and bin/krbfarm-bench.
bench_build() {
  go build -o bin/krbfarm ./cmd/krbfarm
  go build -o bin/krbfarm-bench ./bench/run
}

# bench_pids sets $pids to a fresh file for krbfarm-bench's -pids, where
# it records every PID it starts. It stops them itself; the trap is for
# when it is killed: then the script stops the PIDs recorded there.
bench_pids() {
  pids=$(mktemp)
  trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
  if [ -s "$pids" ]; then
    while read -r pid _; do kill -TERM "$pid" 2>/dev/null || true; done <"$pids"
  fi
  rm -f "$pids"
}

# bench_need_krb5_apache adds to need the packages make authbench and
# make farmbench both use when missing: Apache with mod_auth_gssapi, the
# MIT KDC and its admin tools, taskset.
bench_need_krb5_apache() {
  command -v apache2 >/dev/null 2>&1 || need+=(apache2)
  [ -e /usr/lib/apache2/modules/mod_auth_gssapi.so ] || need+=(libapache2-mod-auth-gssapi)
  command -v krb5kdc >/dev/null 2>&1 || need+=(krb5-kdc)
  command -v kadmin.local >/dev/null 2>&1 || need+=(krb5-admin-server)
  command -v taskset >/dev/null 2>&1 || need+=(util-linux)
}
