# lxcfs-go. `make run` builds and mounts on /var/lib/lxcfs (with per-container
# loadavg, as the systemd unit); `make test`
# installs what the tests need and runs them all (as root).

GO       ?= go
BIN      := bin/lxcfs-go
MNT      ?= /var/lib/lxcfs
PREFIX   ?= /usr
DESTDIR  ?=
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
GOTESTFLAGS ?=
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
UNITDIR    ?= $(PREFIX)/lib/systemd/system
HOOKDIR    := $(DATADIR)/lxcfs-go
LXCCONFDIR := $(DATADIR)/lxc/config/common.conf.d
OCIHOOKDIR := $(DATADIR)/containers/oci/hooks.d
DOCDIR     := $(DATADIR)/doc/lxcfs-go

.PHONY: all build image helm run test test-deps unit vet bench install clean

all: build

# A static binary: the same file runs on the host, in the v2 test VM and in
# containers.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/lxcfs-go

# The container image, written offline with no base image: the static
# binary at /usr/bin/lxcfs-go and a few empty directories, tagged
# lxcfs-go:$(VERSION) and lxcfs-go:latest, loadable with `docker load`,
# `podman load` and `ctr images import`. Every timestamp is the commit's
# (SOURCE_DATE_EPOCH), so two builds of one commit are byte-identical.
IMAGE := bin/lxcfs-go-image.tar
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image: build
	$(GO) run ./tools/mkimage -bin $(BIN) -version $(VERSION) -epoch $(SOURCE_DATE_EPOCH) -o $(IMAGE)
	@sha256sum $(IMAGE)

run: build
	./$(BIN) -f -l $(MNT)

# Everything the tests use that a fresh Debian machine may lack.
test-deps:
	sh scripts/test-deps.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# helm, for the chart's test (deploy/helm): built from the Go module proxy
# into bin/helm-$(HELM_VERSION), once (a cold build takes ~5 minutes of both
# cores; later ones are no-ops). If it cannot be built (no proxy), the chart
# test skips and says so, and the rest of `make test` runs.
HELM_VERSION := v4.3.2
HELM := bin/helm-$(HELM_VERSION)
helm: $(HELM)
$(HELM):
	@mkdir -p bin
	@tmp=$$(mktemp -d) && \
	if GOFLAGS=-mod=mod GOBIN=$$tmp $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION); then \
		mv $$tmp/helm $@; rm -rf $$tmp; \
	else \
		rm -rf $$tmp; echo "helm $(HELM_VERSION) could not be built: the chart test will skip" >&2; \
	fi

test: test-deps build vet helm
	LXCFS_GO_BIN=$(abspath $(BIN)) LXCFS_GO_HELM=$(abspath $(HELM)) LXCFS_GO_REAL_SYSTEMD=1 \
		$(GO) test -race -count=1 -timeout 20m $(GOTESTFLAGS) ./...

# Unit tests alone: no root, no mounts.
unit:
	$(GO) test -count=1 ./hostcgroup/ ./proc/ ./cmd/...

# Binary, LXC hooks and their common.conf.d entry, the systemd unit, the OCI
# hooks.d entry and the docs, under PREFIX (and DESTDIR for packaging).
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/lxcfs-go
	install -D -m 0755 hooks/lxc.mount.hook $(DESTDIR)$(HOOKDIR)/lxc.mount.hook
	install -D -m 0755 hooks/lxc.reboot.hook $(DESTDIR)$(HOOKDIR)/lxc.reboot.hook
	mkdir -p $(DESTDIR)$(LXCCONFDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(OCIHOOKDIR) $(DESTDIR)$(DOCDIR)
	sed 's|/usr/share/lxcfs-go/|$(HOOKDIR)/|; s|/usr/share/doc/lxcfs-go|$(DOCDIR)|' hooks/00-lxcfs-go.conf > $(DESTDIR)$(LXCCONFDIR)/00-lxcfs-go.conf
	sed 's|/usr/bin/lxcfs-go|$(BINDIR)/lxcfs-go|; s|/usr/share/doc/lxcfs-go|$(DOCDIR)|' deploy/systemd/lxcfs-go.service > $(DESTDIR)$(UNITDIR)/lxcfs-go.service
	sed 's|/usr/bin/lxcfs-go|$(BINDIR)/lxcfs-go|' deploy/oci/lxcfs-go.json > $(DESTDIR)$(OCIHOOKDIR)/lxcfs-go.json
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/

clean:
	rm -rf bin

# Benchmarks (root, /dev/fuse, cgroups). `make bench` runs every sub-target;
# each adds itself with a line "bench: bench-<name>". BENCHFLAGS go to the
# benchmark binaries, e.g. BENCHFLAGS="-bench.rounds=5 -bench.files=meminfo".
BENCHFLAGS ?=
.PHONY: bench-read
bench: bench-read

# Reads of every virtual file through lxcfs-go, the reference lxcfs, a
# trivial go-fuse server (the floor) and the kernel, from readers inside a
# limited cgroup; prints a table and writes bench/out/read.json.
bench-read: build
	CGO_ENABLED=0 $(GO) test -c -o bin/bench-read ./bench/read
	LXCFS_GO_BIN=$(abspath $(BIN)) ./bin/bench-read -test.run '^TestReadBench$$' -test.timeout 15m -bench.read $(BENCHFLAGS)

# The loadavg sampler at scale: N cgroups (default 200) x 25 sleeping tasks,
# a reader of proc/loadavg in each, lxcfs-go -l, the reference lxcfs -l and the floor
# side by side; prints each daemon's CPU seconds over a 20 s window and its
# RSS, writes bench/out/loadavg.json. BENCH_LOADAVG_FLAGS, e.g.
# "-bench.n=500 -bench.window=30s -bench.noref".
BENCH_LOADAVG_FLAGS ?=
.PHONY: bench-loadavg
bench: bench-loadavg

bench-loadavg: build
	CGO_ENABLED=0 $(GO) test -c -o bin/bench-loadavg ./bench/loadavg
	LXCFS_GO_BIN=$(abspath $(BIN)) ./bin/bench-loadavg -test.run '^TestLoadavgBench$$' -test.timeout 15m -test.v -bench.loadavg $(BENCH_LOADAVG_FLAGS)

# Density (issue 18): N containers (default 2,000), each its own pid
# namespace and cgroups with a memory limit, a sleeping init and a reader
# of proc/meminfo, stat and loadavg every 10 s through lxcfs-go -l and the
# reference lxcfs -l side by side; started in batches, then a 60 s window.
# Prints each daemon's CPU, RSS, p50/p99 read latency and the latency of
# each container's first read, and writes bench/out/density.json. About 3
# minutes at 2,000 containers, so not part of `make bench`.
# BENCH_DENSITY_FLAGS, e.g. "-bench.n=200 -bench.window=30s -bench.noref".
BENCH_DENSITY_FLAGS ?=
.PHONY: bench-density
bench-density: build
	CGO_ENABLED=0 $(GO) test -c -o bin/bench-density ./bench/density
	LXCFS_GO_BIN=$(abspath $(BIN)) ./bin/bench-density -test.run '^TestDensityBench$$' -test.timeout 30m -test.v -bench.density $(BENCH_DENSITY_FLAGS)

# Fuzzing: every go fuzz target for FUZZTIME each (one at a time: a fuzz
# run uses every CPU). Findings are written to <pkg>/testdata/fuzz and kept
# as regression seeds, which every `go test` (and so `make test`) runs.
FUZZTIME ?= 30s
.PHONY: fuzz
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) sh scripts/fuzz.sh

# Soak: 10 minutes of full-rate reads from 8 readers in cgroups that are
# created and removed as it runs, and the isolation test for 60 s; RSS and
# goroutines of the daemon must stay flat and no read may fail. Not part of
# `make test`. LXCFS_GO_SOAK_SECONDS shortens it.
LXCFS_GO_SOAK_SECONDS ?= 600
.PHONY: soak
soak: build
	LXCFS_GO_BIN=$(abspath $(BIN)) LXCFS_GO_SOAK_SECONDS=$(LXCFS_GO_SOAK_SECONDS) LXCFS_GO_ISOLATION_SECONDS=60 \
		$(GO) test -count=1 -timeout 30m -v -run '^(TestSoak|TestIsolation)$$' ./tests/integration/

# A real systemd as PID 1: a Debian bookworm rootfs (debootstrap from the
# mirror apt uses; cached in /var/cache/lxcfs-go-test, so only the first run
# downloads) booted with systemd-nspawn, `make install` into it and the unit
# enabled; then kill -9, systemctl reload, stop/start + remount and a crash
# loop while a container reader reads proc/meminfo every 20 ms. Root,
# /dev/fuse, debootstrap and systemd-nspawn (systemd-container). `make test`
# runs it too (about 15 s once the rootfs is cached; the first debootstrap
# takes a minute or two); this target runs it alone.
.PHONY: e2e-systemd
e2e-systemd: build
	LXCFS_GO_REAL_SYSTEMD=1 LXCFS_GO_BIN=$(abspath $(BIN)) $(GO) test -count=1 -timeout 30m -v ./tests/realsystemd/

# The real-tools suite: free, top, uptime, ps, nproc, lscpu, mpstat, iostat,
# numactl, psutil and node_exporter in a runc container bound to lxcfs-go
# (docs/oci.md's mounts) and in an LXC container with hooks/lxc.mount.hook
# (docs/lxc.md), each under a memory limit, a cpuset and a CFS quota, with
# one table of checks. Root, /dev/fuse, runc, lxc. The first run
# debootstraps their rootfs (cached in /var/cache/lxcfs-go-test).
.PHONY: e2e-tools
e2e-tools: build
	LXCFS_GO_REAL_TOOLS=1 LXCFS_GO_BIN=$(abspath $(BIN)) $(GO) test -count=1 -timeout 30m -v ./tests/realtools/

# A real single-node Kubernetes on this machine (tests/kubernetes): Kubernetes
# v1.34 built from the Go module proxy into /var/cache/lxcfs-go-k8s (~8 min
# the first time, reused after), Debian's containerd, runc, etcd and CNI
# plugins, everything else under one state directory; deploy/kubernetes with
# `make image`'s image, then rollouts, a pod deletion, a kill -9 and a kubelet
# restart under a pod reading /proc/meminfo every 20 ms (no read may fail),
# and a limits.cpu: 1 pod's CPU views; webhook.yaml's injection, and the Helm
# chart (`make helm`'s helm) installed, upgraded under a reader and
# uninstalled. Torn down even when the test fails
# (LXCFS_GO_E2E_KEEP=1 leaves it up). See docs/kubernetes.md.
.PHONY: e2e-kubernetes
e2e-kubernetes: image helm
	LXCFS_GO_E2E_KUBERNETES=1 LXCFS_GO_IMAGE=$(abspath $(IMAGE)) LXCFS_GO_HELM=$(abspath $(HELM)) \
		$(GO) test -count=1 -timeout 45m -v -run '^TestKubernetes$$' ./tests/kubernetes/; \
	rc=$$?; [ "$$LXCFS_GO_E2E_KEEP" = 1 ] || tests/kubernetes/cluster.sh down; exit $$rc
