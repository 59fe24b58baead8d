# patchpilot build and test entry points. `make test` is what CI runs.
GO        ?= go
BIN       := bin/patchpilot
# Each fuzz target runs FUZZTIME in `make test`: a count of executions (a
# few seconds each here) rather than a duration, because Go before 1.27
# can fail a duration-bounded run with a spurious "context deadline
# exceeded" when the time runs out (golang/go#75804).
FUZZTIME  ?= 30000x
# The fuzz targets, as package:target pairs.
FUZZ      := $(shell $(CURDIR)/scripts/fuzz-targets.sh)
# Fuzz workers per target. One, because `make test` fuzzes while the
# unit and lab tests run, and the lab tests spend most of their time
# waiting for bakes and scrapes, not computing.
FUZZPARALLEL ?= 1

export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build test deps vet fmt-check unit fuzz bench bench-inventory bench-dashboard bench-deliveries bench-seed-clean bench-scale bench-rollout clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/patchpilot

deps:
	@./scripts/deps.sh

# fmt-check also refuses tracked build outputs: an ELF binary or any file
# over 1 MiB (scripts/tracked-files.sh).
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@./scripts/tracked-files.sh

vet:
	$(GO) vet ./...

# -count=1: the end-to-end tests act on real hosts, which Go's test cache
# cannot see, so every run really runs them. The tests that boot a lab take
# one machine-wide lock (internal/lab/labtest), so a package may wait for
# the other packages' labs, or another run's, before its own: the timeout
# covers that wait. One run's labs take about half an hour; two runs
# started at once queue their labs behind each other, so the later one's
# longest package waits about as long again, which 90 minutes did not
# always cover on a loaded machine. A lab test that still waits for the
# lock near the timeout fails with who holds it. GOTESTFLAGS adds flags,
# e.g. -v to see how long each lab test waited for the lock, or -short to
# skip the lab tests.
GOTESTFLAGS ?=
unit:
	$(GO) test -count=1 -timeout 150m $(GOTESTFLAGS) ./...

fuzz:
	@for t in $(FUZZ); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) $$pkg || exit 1; \
	done

# The whole suite: formatting, vet, then the unit and end-to-end tests (the
# lab's need root) and every fuzz target for a few seconds, side by side.
# The lab tests take turns on one machine-wide lock, so they alone take
# about a quarter of an hour; fuzzing meanwhile, on one worker, keeps the
# whole run near 20 minutes. Each side's output is printed when it ends.
test: deps fmt-check vet
	@$(MAKE) --no-print-directory -j2 --output-sync=target unit fuzz

# The benchmarks at scale (AtScale) have their own target: their store
# takes a minute and a half to seed the first time.
bench:
	$(GO) test -run '^$$' -bench . -skip AtScale -benchmem ./...

clean:
	rm -rf bin

# Inventory benchmark on a lab of real hosts (root): patchpilot's first and
# repeated collections against an Ansible playbook and the plain-OpenSSH
# floor. PROFILE=realistic gives the hosts Debian's full indexes and
# standard packages (docs/inventory.md); run it once per profile to report
# both. Not part of `make test`.
HOSTS   ?= 20
RUNS    ?= 5
PROFILE ?= default
bench-inventory: deps
	$(GO) run ./cmd/ppbench inventory -hosts $(HOSTS) -runs $(RUNS) -profile $(PROFILE)

# Rollout benchmark on a lab of real hosts (root): a good update in waves of
# 1, 2, 5 and 12 with an HTTP check after each host, patchpilot against an
# Ansible playbook and the plain-OpenSSH floor. Not part of `make test`.
bench-rollout: deps
	$(GO) run ./cmd/ppbench rollout -hosts $(HOSTS) -runs $(RUNS)

# The reads behind the dashboard's pages and the API over a seeded store of
# 10,000 hosts, 1,000 rollouts and 1,000,000 events (docs/benchmarks.md).
# The store is seeded once and cached in $TMPDIR/patchpilot-seed (/tmp
# without TMPDIR); `make bench-seed-clean` deletes it. Not part of `make test`.
BENCHTIME  ?= 5x
BENCHCOUNT ?= 3
bench-dashboard:
	$(GO) test -p 1 -run '^$$' -bench AtScale -benchtime $(BENCHTIME) -count $(BENCHCOUNT) -timeout 60m ./internal/server/ ./internal/sqlite/

# The notification outbox: a dispatcher bringing a webhook's cursor through
# the log of a 2,000-host rollout, against the same notifications sent
# directly; -v prints the ratios (docs/benchmarks.md). Not part of `make test`.
bench-deliveries:
	$(GO) test -run '^$$' -bench BenchmarkDispatcherBacklog -count $(BENCHCOUNT) -v ./internal/app/

bench-seed-clean:
	rm -rf "$${TMPDIR:-/tmp}/patchpilot-seed"

# Scale on a simulated fleet (internal/sim/fleet): inventory ingest,
# assess, plan and orchestrator rollouts at 1,000, 10,000 and 100,000
# hosts, each phase of each size in its own process (docs/benchmarks.md).
# SCALE_FLAGS adds flags, e.g. -sizes 1000,10000 -profiles DIR. Not part
# of `make test`.
SCALE_FLAGS ?=
bench-scale:
	$(GO) run ./cmd/ppbench scale $(SCALE_FLAGS)
