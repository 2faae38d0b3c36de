# chattoken: `make run` starts the service on this machine, `make test` runs
# every test. Both need only Go; .ci/run installs the extra tools some tests use.

GO        ?= go
BIN       := bin/chattoken

.PHONY: all build build-openssl run test test-short test-openssl fuzz loadtest loadtest-leak lint vuln fmt tidy image dist clean

all: lint test build

VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
GO_LDFLAGS = -s -w -X main.version=$(VERSION)
# Tools that cannot share go.mod's dependencies (see tools/go.mod), pinned
# there and run from the module cache like `go tool` (offline once fetched).
TOOLS      := $(GO) tool -modfile=tools/go.mod

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="$(GO_LDFLAGS)" -o $(BIN) ./cmd/chattoken

# The optional OpenSSL build: RS256 signed by the system's libcrypto (cgo;
# Debian libssl-dev to build, libssl3 to run). See docs/performance.md.
build-openssl:
	CGO_ENABLED=1 $(GO) build -tags openssl -trimpath -ldflags="$(GO_LDFLAGS)" -o bin/chattoken-openssl ./cmd/chattoken

# Release files, the same here and in .github/workflows/release.yml: `make dist
# VERSION=1.2.3` writes into $(DIST) a static binary per platform, built as
# `make build` builds (chattoken_1.2.3_linux-amd64, ..._windows-amd64.exe), a
# CycloneDX SBOM of the modules built into them (chattoken_1.2.3_sbom.cdx.json)
# and SHA256SUMS over all of these. The SBOM describes the linux/amd64 build,
# the image's: it links every module the other platforms link, and procfs.
# Its generator (in tools/go.mod) is built for this machine first, so that
# GOOS and GOARCH reach only its analysis. test/dist checks the result.
DIST           ?= dist
DIST_PLATFORMS := linux/amd64 linux/arm64 darwin/arm64 windows/amd64
SHA256SUM      ?= $(if $(shell command -v sha256sum),sha256sum,shasum -a 256)
dist:
	@mkdir -p $(DIST)
	@set -e; for p in $(DIST_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; if [ $$os = windows ]; then ext=.exe; fi; \
		out=$(DIST)/chattoken_$(VERSION)_$$os-$$arch$$ext; echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags="$(GO_LDFLAGS)" -o $$out ./cmd/chattoken; \
	done
	@echo "sbom $(DIST)/chattoken_$(VERSION)_sbom.cdx.json"
	@sbom="$$($(TOOLS) -n cyclonedx-gomod)" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
		"$$sbom" app -json -licenses -main cmd/chattoken -output $(DIST)/chattoken_$(VERSION)_sbom.cdx.json .
	cd $(DIST) && $(SHA256SUM) chattoken_$(VERSION)_* > SHA256SUMS

# Runs `chattoken dev` on 127.0.0.1:8080: an ephemeral key, a demo sign-in
# and a page at / that fetches and verifies a token. Not for production.
run: build
	./$(BIN) dev

# Every test: unit, integration on the real binary, and end-to-end where
# the tools exist (skipped with a message otherwise, failing under CI=true).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	@if pkg-config --exists libcrypto 2>/dev/null; then $(MAKE) --no-print-directory test-openssl; \
	else echo "skipping the OpenSSL build's tests: libcrypto headers not installed (apt-get install libssl-dev pkg-config)"; fi
	$(MAKE) --no-print-directory fuzz FUZZTIME=1s

# The unit layer alone: every package whose tests run the binary, a browser
# or an external tool is skipped under -short.
test-short:
	$(GO) test -short -count=1 ./...

# What only the OpenSSL build can show: its signer and key tests, and, on
# the binary built with -tags openssl, which build it is and one end-to-end
# token test. (TestTokensAreTheSameInBothBuilds, in the default suite, builds
# both binaries and compares their tokens.) `make test` runs it where
# libcrypto's headers are installed.
OPENSSL_BINARY_TESTS := ^(TestBinaryIsTheBuildUnderTest|TestMintedTokensVerifyAgainstPublishedKeys)$$
test-openssl:
	CGO_ENABLED=1 $(GO) test -tags openssl -race -count=1 ./internal/keys
	CHATTOKEN_TEST_TAGS=openssl $(GO) test -count=1 -run '$(OPENSSL_BINARY_TESTS)' ./test/integration

# Throughput, latency and memory of the real binary under wrk, with the
# reference signing rates measured in the same run (docs/performance.md).
loadtest:
	$(GO) run ./test/loadtest $(LOADTEST_FLAGS)

loadtest-leak:
	$(GO) run ./test/loadtest -leak

# Fuzz targets as Name:package. `make test` runs each for a few seconds;
# `make fuzz` for longer (FUZZTIME=10m make fuzz for a real search).
FUZZ_TARGETS := FuzzTokenRequest:./internal/httpapi FuzzCheckRequest:./internal/lwicontext FuzzPlainDecimal:./internal/lwicontext \
                FuzzPath:./internal/jsondoc FuzzClient:./internal/clientip
FUZZTIME ?= 60s

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# Helm's CLI, built from the Go module proxy on first use (then from Go's
# build cache); not in go.mod, which would pull in the Kubernetes client
# libraries. test/deploy runs the same version (helmPackage).
HELM ?= $(GO) run helm.sh/helm/v4/cmd/helm@v4.3.2

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(TOOLS) actionlint
	$(HELM) lint --strict deploy/helm/chattoken

# Known vulnerabilities in the code paths the binary really calls, from the
# Go vulnerability database (vuln.go.dev, or a local copy through
# VULNDB=file:///path). It needs that database, so it is not part of make test.
VULNDB ?= https://vuln.go.dev
vuln:
	$(GO) tool govulncheck -db $(VULNDB) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy:
	$(GO) mod tidy

# The container image (Dockerfile), where Docker or another engine is present:
# `make image CONTAINER_ENGINE=podman`. test/deploy checks its contract without one.
image:
	$(or $(CONTAINER_ENGINE),docker) build --build-arg VERSION=$(VERSION) -t chattoken:dev .

clean:
	rm -rf bin dist
