#!/bin/bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kubectl of one Kubernetes version from the Go module proxy into a cache
# directory, and does nothing when they are already there.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the staging
# modules (k8s.io/api, k8s.io/client-go, ...) with ./staging/... paths. A
# throwaway module that requires it and replaces each staging module with its
# published v0.x.y version builds fine.
#
# usage: build-k8s.sh [VERSION [BINDIR]]
set -euo pipefail
VERSION=${1:-${K8S_VERSION:-v1.34.4}}
BINDIR=${2:-${K8S_BINDIR:-/var/cache/lxcfs-go-k8s/bin-$VERSION}}
BINS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"

have=1
for b in $BINS; do [ -x "$BINDIR/$b" ] || have=0; done
if [ $have = 1 ]; then
	echo "build-k8s: $VERSION already in $BINDIR"
	exit 0
fi

# Staging modules are versioned v0.<minor>.<patch> for v1.<minor>.<patch>.
staging=v0.${VERSION#v1.}
work=$(mktemp -d /tmp/lxcfs-go-k8s-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
go mod init lxcfs-go-k8s-build >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@$VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
[ -f "$gomod" ] || { echo "build-k8s: no go.mod for k8s.io/kubernetes@$VERSION" >&2; exit 1; }
{
	echo "module lxcfs-go-k8s-build"
	echo
	echo "go $(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod")"
	echo
	echo "require k8s.io/kubernetes $VERSION"
	echo
	echo "replace ("
	# the staging replace lines look like: k8s.io/api => ./staging/src/k8s.io/api
	grep -E '^[[:space:]]*k8s\.io/[^ ]+ => \./staging/' "$gomod" |
		awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
	echo ")"
} >go.mod
cat >tools.go <<'EOT'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOT
echo "build-k8s: resolving modules"
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }
minor=${VERSION#v1.}; minor=${minor%%.*}
ldv=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldv="$ldv -X $p.gitVersion=$VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
mkdir -p "$BINDIR.tmp"
start=$(date +%s)
for b in $BINS; do
	echo "build-k8s: building $b"
	CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags tools \
		-ldflags "-s -w $ldv" \
		-o "$BINDIR.tmp/$b" "k8s.io/kubernetes/cmd/$b"
done
rm -rf "$BINDIR"
mv "$BINDIR.tmp" "$BINDIR"
echo "build-k8s: $VERSION built into $BINDIR in $(( $(date +%s) - start ))s"
