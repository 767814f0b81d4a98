# lxcfs-go. `make run` builds and mounts on /var/lib/lxcfs; `make test`
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

.PHONY: all build run test test-deps unit vet bench install clean

all: build

# A static binary: the same file runs on the host, in the v2 test VM and in
# containers.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/lxcfs-go

run: build
	mkdir -p $(MNT)
	./$(BIN) -f $(MNT)

# Everything the tests use that a fresh Debian machine may lack.
test-deps:
	sh scripts/test-deps.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

test: test-deps build vet
	LXCFS_GO_BIN=$(abspath $(BIN)) $(GO) test -race -count=1 -timeout 20m $(GOTESTFLAGS) ./...

# Unit tests alone: no root, no mounts.
unit:
	$(GO) test -count=1 ./cgroupview/ ./proc/ ./cmd/...

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
