#!/usr/bin/env bash
# Installs what krbfarm's demo and tests need on Debian/Ubuntu, if missing:
# the MIT Kerberos KDC, admin tools and clients, curl, haproxy (PROXY
# protocol interop tests), and the real outside clients of lab/clients:
# python3-gssapi, python3-requests-kerberos, gss-ntlmssp (a real NTLM
# client with channel bindings, through python-gssapi), chromium with
# libnss3-tools (the browser test trusts the lab CA through certutil). As root it runs
# apt-get; otherwise it uses sudo when available, or says what to run.
set -euo pipefail

pkgs=(krb5-kdc krb5-admin-server krb5-user curl haproxy chromium libnss3-tools)
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have krb5kdc      || need+=(krb5-kdc)
have kdb5_util    || need+=(krb5-kdc)
have kadmin.local || need+=(krb5-admin-server)
have kinit        || need+=(krb5-user)
have curl         || need+=(curl)
have haproxy      || need+=(haproxy)
# Real outside clients for lab/clients: Debian's python3 with its
# Kerberos packages.
/usr/bin/python3 -c 'import gssapi' 2>/dev/null            || need+=(python3-gssapi)
/usr/bin/python3 -c 'import requests_kerberos' 2>/dev/null || need+=(python3-requests-kerberos)
ls /usr/lib/*/gssntlmssp/gssntlmssp.so >/dev/null 2>&1     || need+=(gss-ntlmssp)
have chromium     || need+=(chromium)
have certutil     || need+=(libnss3-tools)

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not installed: install Go 1.26 or newer (https://go.dev/doc/install) and put it on PATH" >&2
  exit 1
fi
# Pebble, a local ACME server, for the load balancer's ACME test (no internet).
if ! command -v pebble >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/pebble" ]; then
  echo "deps: installing pebble (local ACME server) with go install"
  go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.8.0 ||
    echo "deps: pebble install failed: the ACME test will be skipped" >&2
fi

[ ${#need[@]} -eq 0 ] && exit 0

exec "$(dirname "$0")/apt-install.sh" deps "${need[@]}"
