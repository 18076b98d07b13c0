# cowbook developer targets. `make test` is what CI runs (.ci/run).
GO        ?= go
# Packages where goroutines meet; they also run under the race detector.
RACE_PKGS ?= ./internal/... ./perf/report ./mmapsnap ./gateway/... ./client/... ./walfile ./cow ./node
FUZZTIME  ?= 10s

.PHONY: all build fmt fmtcheck vet lint test testrace bench fuzz clean

all: build

build:
	$(GO) build -o bin/cowbook ./cmd/cowbook

fmt:
	gofmt -w $$(git ls-files '*.go')

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	@command -v golangci-lint >/dev/null || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@latest
	golangci-lint run ./...

test: fmtcheck vet
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race $(RACE_PKGS)

testrace:
	$(GO) test -count=1 -race $(RACE_PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin
