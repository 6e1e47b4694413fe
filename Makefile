# krbfarm: `make demo` runs a farm end to end; `make test` runs every test.
# Both install what is missing first (see scripts/deps.sh).

GO      ?= go
BIN     := bin/krbfarm
PKGS    := ./...

.PHONY: all deps build install demo up test test-short vet chaos bench authbench farmbench benchtables gobench fuzz clean

all: build

deps:
	@scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/krbfarm

# Puts krbfarm on your PATH: `go install` into $(go env GOBIN), else
# $(go env GOPATH)/bin. The README's commands all say `krbfarm`.
install:
	$(GO) install ./cmd/krbfarm
	@dir=$$($(GO) env GOBIN); dir=$${dir:-$$($(GO) env GOPATH)/bin}; \
	  case ":$$PATH:" in *":$$dir:"*) echo "krbfarm installed in $$dir";; \
	  *) echo "krbfarm installed in $$dir, which is not on your PATH: export PATH=\"$$dir:\$$PATH\"";; esac

demo: deps build
	./$(BIN) demo

up: deps build
	./$(BIN) up

vet:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi

test: deps vet
	$(GO) test -race -count=1 $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Fault tests against a real farm (chaos/): kill -9, SIGSTOP, SIGHUP,
# SIGTERM drain, fd exhaustion, slowloris, under authenticated load, with
# more load than `make test` runs; prints the table of what each cost.
chaos: deps
	$(GO) test -count=1 -v -timeout 15m -run '^TestChaos$$' ./chaos -args -chaos.long

# krbfarm lb vs HAProxy vs nginx stream on loopback (installs haproxy,
# nginx, libnginx-mod-stream and wrk when missing); see bench/bench.sh.
bench:
	bench/bench.sh

# SPNEGO hosts: krbfarm backend vs Apache mod_auth_gssapi, a fresh
# Kerberos token per request (installs apache2 and
# libapache2-mod-auth-gssapi when missing); see bench/authbench.sh.
authbench:
	bench/authbench.sh

# Whole farms through a TLS front door: krbfarm up (its LB terminating
# TLS, 2 hosts) vs HAProxy terminating TLS (mode tcp) in front of 2 Apache
# mod_auth_gssapi hosts, the same keytab and certificate (installs haproxy,
# apache2 and libapache2-mod-auth-gssapi when missing); see
# bench/farmbench.sh.
farmbench:
	bench/farmbench.sh

# Rewrites README.md's benchmark tables from bench/results.json,
# bench/authresults.json and bench/farmresults.json (TestReadmeBenchTables
# in bench/run fails when they differ).
benchtables:
	$(GO) run ./bench/run tables -write

# Every fuzz target, one after another, FUZZTIME each (default 10m), one
# worker. Go minimises each new input for up to 60 s by default, and shows
# 0 execs/s meanwhile; a bound in executions keeps the search running.
FUZZTIME ?= 10m
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1000x -parallel 1 $$pkg 2>&1 | tail -n 3; \
	  done; \
	done

# The Go micro-benchmarks.
gobench: deps
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
