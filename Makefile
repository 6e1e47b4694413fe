# krbfarm: `make demo` runs a farm end to end; `make test` runs every test.
# Both install what is missing first (see scripts/deps.sh).

GO      ?= go
BIN     := bin/krbfarm
PKGS    := ./...

.PHONY: all deps build demo up test test-short vet bench authbench gobench clean

all: build

deps:
	@scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/krbfarm

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

# krbfarm lb vs HAProxy vs nginx stream on loopback (installs haproxy,
# nginx, libnginx-mod-stream and wrk when missing); see bench/bench.sh.
bench:
	bench/bench.sh

# SPNEGO hosts: krbfarm backend vs Apache mod_auth_gssapi, a fresh
# Kerberos token per request (installs apache2 and
# libapache2-mod-auth-gssapi when missing); see bench/authbench.sh.
authbench:
	bench/authbench.sh

# The Go micro-benchmarks.
gobench: deps
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
