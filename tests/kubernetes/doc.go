// Package kubernetes is `make e2e-kubernetes`: a real single-node
// Kubernetes on this machine (built from the Go module proxy and Debian's
// packages by build-k8s.sh, brought up and torn down by cluster.sh) running
// deploy/kubernetes, and the zero-downtime checks of the daemon's pod under
// a reader of /proc/meminfo. It runs only with LXCFS_GO_E2E_KUBERNETES=1:
// see docs/kubernetes.md, "What is tested".
package kubernetes
