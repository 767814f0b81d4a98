// Package webhook is lxcfs-go's Kubernetes mutating admission webhook
// (`lxcfs-go webhook`): it adds the daemon's files to the pods that ask for
// them, as hostPath volumes and read-only volumeMounts.
//
// # What a pod gets
//
// Every container and init container gets, from the daemon's directory on the
// node (--lxcfs-dir, default /var/lib/lxcfs), /proc/{cpuinfo, diskstats,
// loadavg, meminfo, slabinfo, stat, swaps, uptime} and the whole
// /sys/devices/system/cpu view. Init containers get them too: they run under
// the same limits, and what they size from /proc (worker counts, heap sizes,
// generated configs) should match what the app containers will see.
// /proc/pressure/* is left out: runc refuses bind mounts there.
//
// # Who gets it
//
//   - POST /mutate mutates every pod it is sent, unless the pod opts out with
//     the label or annotation lxcfs-go.io/inject: "false". The
//     MutatingWebhookConfiguration's selectors decide what is sent: pods
//     labelled lxcfs-go.io/inject: "true", and pods in namespaces so
//     labelled.
//   - POST /mutate-opt-in mutates only pods that carry lxcfs-go.io/inject:
//     "true" as a label or an annotation (annotations cannot be selected on,
//     so this endpoint is for a webhook entry that sees all pods).
//   - The annotation lxcfs-go.io/skip-containers: "a,b" leaves the named
//     containers alone.
//
// # Never twice, never over the user's mounts
//
// Mutate is a pure function of the request, so the API server may call it
// again (reinvocationPolicy: IfNeeded) without harm: a container that already
// mounts a volume of ours, or mounts anything at a path we would mount or
// below it (its own /proc/meminfo, /sys/devices/system/cpu/online), keeps its
// mount; volumes are added once, and only those some container uses. The pod
// is marked with the annotation lxcfs-go.io/injected: "true".
//
// Errors never block a pod: a request that cannot be decoded is allowed
// unchanged, with a warning.
//
// GET /healthz answers 200 for probes.
package webhook
