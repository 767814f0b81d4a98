#!/bin/bash
# A single-node Kubernetes for the e2e test (tests/kubernetes), everything of
# it under one state directory, torn down leaving nothing behind:
#
#   cluster.sh up          certs, etcd, apiserver, controller-manager,
#                          scheduler, containerd, kubelet; waits for the node
#                          to be Ready
#   cluster.sh down        stops all of it, by pid, and removes what it made
#   cluster.sh kubelet-restart
#                          stops the kubelet (SIGTERM, by pid) and starts it
#                          again with the same arguments
#   cluster.sh env         prints the variables the test uses (KUBECONFIG, ...)
#
# Machine facts this relies on: docs/kubernetes.md "What is tested".
#   - The kubelet sets kernel.panic*, vm.overcommit_memory, vm.panic_on_oom
#     and kernel.keys.* at start and the bridge plugin net.ipv4.ip_forward:
#     they are saved before and restored once the node is Ready, after each
#     kubelet start and at tear-down.
#   - containerd's CRI runs with restrict_oom_score_adj (this VM refuses the
#     -998/-997 the kubelet asks for).
#   - Bidirectional and HostToContainer hostPath volumes need shared mounts
#     and / is private: $STATE/shared is bind-mounted onto itself and made
#     rshared, and holds every host path the pods use, /sys/fs/cgroup as a
#     recursive bind copy.
#   - Only /var/log/containers, /var/lib/cni/results, /run/netns and
#     /run/containerd/s are fixed paths of the kubelet, libcni and
#     containerd 1.6: what is made there is removed at tear-down.
#   - The apiserver listens on the CNI bridge's address ($API_IP), made
#     with the bridge before the apiserver starts (the bridge plugin takes
#     the bridge as it finds it): pods reach the API there (no kube-proxy);
#     its certificate names that address.
#   - The kubelet is told not to touch iptables (makeIPTablesUtilChains:
#     false) and the bridge plugin not to masquerade: no rules are made.
set -euo pipefail

STATE=${LXCFS_GO_K8S_STATE:-/var/lib/lxcfs-go-e2e-k8s}
K8S_VERSION=${K8S_VERSION:-v1.34.4}
K8S_BINDIR=${K8S_BINDIR:-/var/cache/lxcfs-go-k8s/bin-$K8S_VERSION}
NODE=lxcfs-go-e2e
CGROUP_ROOT=/lxcfs-go-e2e-k8s
BRIDGE=lxcfsgoe2e0
POD_SUBNET=10.217.0.0/24
# The bridge's (the pods' gateway's) address on the host. The apiserver
# listens there, not on 127.0.0.1: pods reach it at this address (there is
# no kube-proxy to make the kubernetes Service work), and so does the host.
API_IP=10.217.0.1
SERVICE_RANGE=10.217.128.0/24
ETCD_PORT=23790
ETCD_PEER_PORT=23800
API_PORT=16443
KUBELET_PORT=10350
KUBELET_HEALTHZ_PORT=10348
CM_PORT=10357
SCHED_PORT=10359
# Paths outside the state directory that the kubelet, libcni and containerd
# 1.6 always use.
FIXED_DIRS="/var/log/containers /var/lib/cni /var/lib/cni/results /run/netns /run/containerd /run/containerd/s /var/lib/kubelet /var/lib/kubelet/device-plugins"
FIXED_DIRS_DEEPEST_FIRST="/var/log/containers /var/lib/cni/results /var/lib/cni /run/netns /run/containerd/s /run/containerd /var/lib/kubelet/device-plugins /var/lib/kubelet"
SYSCTLS="kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward"

RUN=$STATE/run
LOGS=$STATE/logs
PKI=$STATE/pki
SHARED=$STATE/shared
SOCK=$STATE/containerd/containerd.sock
export KUBECONFIG=$STATE/admin.kubeconfig

log() { echo "cluster: $*" >&2; }
die() {
	log "$*"
	exit 1
}
kubectl() { "$K8S_BINDIR/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }

# node_ip is the address of the interface of the default route.
node_ip() {
	local dev
	dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
	ip -4 -o addr show dev "$dev" | awk '{sub("/.*", "", $4); print $4; exit}'
}

# start NAME CMD...: runs CMD in its own session, logs to $LOGS/NAME.log,
# remembers its pid (and the command, for restarts) in $RUN.
start() {
	local name=$1
	shift
	printf '%q ' "$@" >"$RUN/$name.cmd"
	setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
	echo $! >"$RUN/$name.pid"
}

# alive NAME: the process started as NAME still runs (and is the one we
# started: its command line names the state directory or our binary).
alive() {
	local pid
	pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
	grep -qa -e "$STATE" -e "$K8S_BINDIR" "/proc/$pid/cmdline" 2>/dev/null
}

# stop NAME [SECONDS]: SIGTERM by pid, SIGKILL after SECONDS (default 10).
stop() {
	local name=$1 secs=${2:-10} pid i
	alive "$name" || {
		rm -f "$RUN/$name.pid"
		return 0
	}
	pid=$(cat "$RUN/$name.pid")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		log "$name ($pid) did not stop in ${secs}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
	fi
	rm -f "$RUN/$name.pid"
	[ "$i" -lt 10 ] || log "$name stopped after $((i / 10)).$((i % 10))s"
}

# wait_for SECONDS WHAT CMD...: polls CMD every 0.2 s.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	die "$what not within ${secs}s"
}

save_sysctls() {
	[ -f "$STATE/sysctls" ] && return 0
	local k
	for k in $SYSCTLS; do
		echo "$k=$(sysctl -n "$k")"
	done >"$STATE/sysctls"
}

restore_sysctls() {
	[ -f "$STATE/sysctls" ] || return 0
	local kv
	while read -r kv; do
		[ "$(sysctl -n "${kv%%=*}")" = "${kv#*=}" ] || sysctl -q -w "$kv" >/dev/null
	done <"$STATE/sysctls"
}

install_packages() {
	local need="" p
	for p in containerd runc etcd-server containernetworking-plugins openssl busybox-static iproute2; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
	done
	[ -z "$need" ] && return 0
	log "installing$need"
	# Keep the packages' services (etcd, containerd) from starting.
	local policy=/usr/sbin/policy-rc.d made=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		made=1
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null; }
	if [ -n "$made" ]; then rm -f "$policy"; fi
}

# The fixed paths that the kubelet, libcni and containerd use: whether each
# existed before, so that tear-down removes only what we made.
save_baseline() {
	[ -f "$STATE/baseline" ] && return 0
	local p
	for p in $FIXED_DIRS; do
		if [ -e "$p" ]; then echo "$p"; fi
	done >"$STATE/baseline"
}

certs() {
	[ -f "$PKI/admin.crt" ] && return 0
	local ip=$1
	mkdir -p "$PKI"
	(
		cd "$PKI"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=lxcfs-go-e2e-ca" -keyout ca.key -out ca.crt 2>/dev/null
		# The apiserver's serving certificate.
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:%s,IP:%s,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
			"$ip" "$API_IP" "${SERVICE_RANGE%.0/24}.1" >apiserver.ext
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile apiserver.ext -out apiserver.crt 2>/dev/null
		# One client certificate in system:masters for every component: a
		# test cluster, not a model of RBAC.
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/O=system:masters/CN=lxcfs-go-e2e-admin" -keyout admin.key -out admin.csr 2>/dev/null
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile client.ext -out admin.crt 2>/dev/null
		# Service account tokens.
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
		openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
	)
	cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://$API_IP:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: e2e
  context: {cluster: e2e, user: admin}
current-context: e2e
EOF
}

write_configs() {
	local ip=$1
	mkdir -p "$STATE/containerd" "$STATE/cni/net.d" "$STATE/kubelet"
	cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
# Plugins that would write outside the state directory or are not used.
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "lxcfs-go-e2e/pause:1"
  # This VM refuses the oom_score_adj -998/-997 the kubelet asks for.
  restrict_oom_score_adj = true
  enable_selinux = false
  # Pods' network namespaces below the state directory, not /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF
	cat >"$STATE/cni/net.d/10-lxcfs-go-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "lxcfs-go-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/networks",
        "ranges": [[{"subnet": "$POD_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
	echo "nameserver 127.0.0.1" >"$STATE/resolv.conf"
	cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
containerRuntimeEndpoint: unix://$SOCK
podLogsDir: $STATE/pod-logs
port: $KUBELET_PORT
healthzPort: $KUBELET_HEALTHZ_PORT
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
address: $ip
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: AlwaysAllow
failSwapOn: false
resolvConf: $STATE/resolv.conf
makeIPTablesUtilChains: false
serializeImagePulls: false
# Imported images cannot be pulled again: never collect them, never evict.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
syncFrequency: 10s
fileCheckFrequency: 10s
EOF
}

up() {
	[ -d "$K8S_BINDIR" ] || die "no Kubernetes binaries in $K8S_BINDIR: run build-k8s.sh"
	install_packages
	local ip
	ip=$(node_ip)
	[ -n "$ip" ] || die "no address on the default route's interface"
	mkdir -p "$STATE" "$RUN" "$LOGS" "$SHARED"
	save_sysctls
	save_baseline
	echo "$ip" >"$STATE/node-ip"

	# A shared mount for the pods' Bidirectional and HostToContainer volumes.
	if ! mountpoint -q "$SHARED"; then
		mount --bind "$SHARED" "$SHARED"
		mount --make-rshared "$SHARED"
	fi
	mkdir -p "$SHARED/var-lib" "$SHARED/run-lxcfs-go" "$SHARED/sys-fs-cgroup"
	if ! mountpoint -q "$SHARED/sys-fs-cgroup"; then
		mount --rbind /sys/fs/cgroup "$SHARED/sys-fs-cgroup"
		mount --make-rshared "$SHARED/sys-fs-cgroup"
	fi

	make_bridge
	certs "$ip"
	write_configs "$ip"
	make_cgroup_root

	alive etcd || start etcd etcd --name default --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
	alive containerd || start containerd containerd --log-level warn --config "$STATE/containerd/config.toml"
	alive kube-apiserver || start kube-apiserver "$K8S_BINDIR/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address "$API_IP" --secure-port "$API_PORT" --advertise-address "$API_IP" \
		--cert-dir "$PKI" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" \
		--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
		--service-account-issuer https://kubernetes.default.svc \
		--service-cluster-ip-range "$SERVICE_RANGE" \
		--authorization-mode Node,RBAC \
		--kubelet-client-certificate "$PKI/admin.crt" --kubelet-client-key "$PKI/admin.key" \
		--kubelet-preferred-address-types InternalIP \
		--enable-aggregator-routing --allow-privileged=true --profiling=false --v=1
	wait_for 60 "the apiserver ready" kubectl get --raw /readyz
	alive kube-controller-manager || start kube-controller-manager "$K8S_BINDIR/kube-controller-manager" \
		--kubeconfig "$KUBECONFIG" --authentication-kubeconfig "$KUBECONFIG" --authorization-kubeconfig "$KUBECONFIG" \
		--bind-address 127.0.0.1 --secure-port "$CM_PORT" --cert-dir "$STATE/kube-controller-manager" \
		--leader-elect=false --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
		--use-service-account-credentials=false --controllers '*,-nodeipam' --profiling=false
	alive kube-scheduler || start kube-scheduler "$K8S_BINDIR/kube-scheduler" \
		--kubeconfig "$KUBECONFIG" --authentication-kubeconfig "$KUBECONFIG" --authorization-kubeconfig "$KUBECONFIG" \
		--bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --cert-dir "$STATE/kube-scheduler" \
		--leader-elect=false --profiling=false
	wait_for 30 "containerd" ctr -a "$SOCK" version
	start_kubelet
	wait_for 90 "the node Ready" node_ready
	# The service account controller makes "default" in each namespace;
	# pods cannot be created before.
	wait_for 30 "the default service account" kubectl -n default get serviceaccount default
	restore_sysctls
	log "node $NODE Ready"
}

# make_bridge makes the CNI bridge with the pods' gateway address, which the
# bridge plugin would make at the first pod: the apiserver listens there.
make_bridge() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
	fi
	ip -4 -o addr show dev "$BRIDGE" | grep -q " $API_IP/" ||
		ip addr add "$API_IP/${POD_SUBNET#*/}" dev "$BRIDGE"
	ip link set "$BRIDGE" up
}

# The kubelet wants its cgroup root to exist in every hierarchy (it makes
# kubepods and the QoS classes below it).
make_cgroup_root() {
	local h
	for h in /sys/fs/cgroup/*/; do
		h=${h%/}
		[ -f "$h/cgroup.procs" ] || continue
		[ -d "$h$CGROUP_ROOT" ] || mkdir "$h$CGROUP_ROOT"
		if [ -f "$h/cpuset.cpus" ]; then
			[ -n "$(cat "$h$CGROUP_ROOT/cpuset.cpus")" ] || cat "$h/cpuset.cpus" >"$h$CGROUP_ROOT/cpuset.cpus"
			[ -n "$(cat "$h$CGROUP_ROOT/cpuset.mems")" ] || cat "$h/cpuset.mems" >"$h$CGROUP_ROOT/cpuset.mems"
		fi
	done
}

node_ready() {
	[ "$(kubectl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

start_kubelet() {
	alive kubelet && return 0
	local ip
	ip=$(cat "$STATE/node-ip")
	start kubelet "$K8S_BINDIR/kubelet" --config "$STATE/kubelet/config.yaml" --kubeconfig "$KUBECONFIG" \
		--root-dir "$STATE/kubelet/root" --cert-dir "$STATE/kubelet/pki" \
		--hostname-override "$NODE" --node-ip "$ip" --v=1
	wait_for 30 "the kubelet's healthz" curl_healthz
}

curl_healthz() (
	# No curl needed: bash's /dev/tcp, in a subshell that may fail.
	exec 3<>"/dev/tcp/127.0.0.1/$KUBELET_HEALTHZ_PORT" || exit 1
	printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
	first=""
	read -r first <&3 || true
	[[ "$first" == *" 200 "* ]]
)

kubelet_restart() {
	stop kubelet 30
	start_kubelet
	restore_sysctls
	wait_for 60 "the node Ready after the kubelet restart" node_ready
}

# Removes every pod the kubelet runs, so that it tears their sandboxes down
# (CNI DEL, netns, cgroups), before anything is stopped.
delete_pods() {
	alive kube-apiserver && alive kubelet || return 0
	local ns
	for ns in $(kubectl get namespaces -o 'jsonpath={.items[*].metadata.name}' 2>/dev/null); do
		case $ns in kube-system | kube-public | kube-node-lease | default) ;; *)
			kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
			;;
		esac
	done
	kubectl delete daemonsets,deployments,replicasets,pods --all --all-namespaces --grace-period=5 --wait=false >/dev/null 2>&1 || true
	local i
	for ((i = 0; i < 300; i++)); do
		[ -z "$(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null)" ] &&
			! compgen -G "$STATE/cni/networks/lxcfs-go-e2e/${POD_SUBNET%.0/24}.*" >/dev/null && break
		sleep 0.2
	done
}

mounts_below() {
	awk -v s="$STATE" '$5 == s || index($5, s "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | uniq
}

# Lists pids whose command line names the state directory: the containerd
# shims (their -address is our socket) and anything else we started.
our_pids() {
	local p
	for p in /proc/[0-9]*; do
		grep -qa -e "$SOCK" "$p/cmdline" 2>/dev/null && echo "${p#/proc/}"
	done
}

down() {
	[ -d "$STATE" ] || return 0
	set +e
	SECONDS=0
	delete_pods
	log "pods gone (${SECONDS}s)"
	stop kubelet 30
	log "kubelet stopped (${SECONDS}s)"
	# Containers the kubelet left: kill their tasks, so that the shims exit.
	if alive containerd; then
		local t
		for t in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1
		done
		sleep 0.5
		for t in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$SOCK" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1
		done
	fi
	# In parallel (each takes 1-3 s to stop), etcd last.
	stop kube-scheduler &
	stop kube-controller-manager &
	stop kube-apiserver &
	stop containerd &
	wait
	stop etcd
	log "control plane and containerd stopped (${SECONDS}s)"
	local pid
	for pid in $(our_pids); do
		log "killing leftover $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-80) ($pid)"
		kill -KILL "$pid" 2>/dev/null
	done
	# Processes of pods (under the kubelet's cgroup root) that outlived their
	# shim: none should, but a leftover would keep mounts and cgroups busy.
	local f
	for f in /sys/fs/cgroup/pids"$CGROUP_ROOT"/ /sys/fs/cgroup/memory"$CGROUP_ROOT"/; do
		[ -d "$f" ] || continue
		find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
			log "killing leftover pod process $pid"
			kill -KILL "$pid" 2>/dev/null
		done
	done

	# Network: the netns files containerd made, the bridge, libcni's cache.
	local ns
	for ns in /run/netns/cni-*; do
		[ -e "$ns" ] || continue
		if ! grep -qx /run/netns "$STATE/baseline" || [ "$ns" -nt "$STATE/baseline" ]; then
			umount "$ns" 2>/dev/null
			rm -f "$ns"
		fi
	done
	ip link del "$BRIDGE" 2>/dev/null
	rm -f /var/lib/cni/results/lxcfs-go-e2e-*
	for f in /var/log/containers/*.log; do
		[ -L "$f" ] && case $(readlink "$f") in "$STATE"/*) rm -f "$f" ;; esac
	done
	# Directories that did not exist before, if they are empty now.
	# The device manager's socket is always below /var/lib/kubelet.
	rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
	for f in $FIXED_DIRS_DEEPEST_FIRST; do
		grep -qx "$f" "$STATE/baseline" 2>/dev/null || rmdir "$f" 2>/dev/null
	done
	for f in $FIXED_DIRS; do
		grep -qx "$f" "$STATE/baseline" 2>/dev/null || [ ! -e "$f" ] || log "left behind: $f ($(find "$f" -mindepth 1 -maxdepth 1 | head -3 | tr '\n' ' '))"
	done

	# Mounts under the state directory (the kubelet's pod volumes, its
	# rshared root, containerd's rootfs and shm mounts, ours), deepest first.
	local m i
	for ((i = 0; i < 5; i++)); do
		m=$(mounts_below)
		[ -z "$m" ] && break
		while read -r f; do
			umount "$f" 2>/dev/null || umount -l "$f" 2>/dev/null
		done <<<"$m"
	done
	m=$(mounts_below)
	[ -n "$m" ] && log "still mounted: $m"

	# The kubelet's cgroups (pods, QoS classes, its root), deepest first.
	for f in /sys/fs/cgroup/*"$CGROUP_ROOT"; do
		[ -d "$f" ] || continue
		find "$f" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$f" ] && log "cgroup $f not removed"
	done

	restore_sysctls
	if [ -n "$m" ]; then
		log "not removing $STATE: mounts remain"
		return 1
	fi
	# --one-file-system: never into a mount (the cgroup copy) left behind.
	rm -rf --one-file-system "$STATE"
	log "torn down (${SECONDS}s)"
}

case ${1:-} in
up) up ;;
down) down ;;
kubelet-restart) kubelet_restart ;;
env)
	echo "KUBECONFIG=$KUBECONFIG"
	echo "STATE=$STATE"
	echo "SHARED=$SHARED"
	echo "SOCK=$SOCK"
	echo "K8S_BINDIR=$K8S_BINDIR"
	echo "NODE=$NODE"
	echo "API_URL=https://$API_IP:$API_PORT"
	;;
*)
	echo "usage: $0 up|down|kubelet-restart|env" >&2
	exit 2
	;;
esac
