// Package webhook is lxcfs-go's Kubernetes mutating admission webhook
// (`lxcfs-go webhook`): it adds the daemon's files to the pods that ask for
// them, as hostPath volumes and read-only volumeMounts.
//
// # What a pod gets
//
// Every container and init container gets, from the daemon's directory on the
// node (--lxcfs-dir, default /var/lib/lxcfs), what the vfiles table binds
// by default (Files: every /proc file but /proc/pressure/*, and the whole
// /sys/devices/system/cpu view; --files chooses others). Init containers
// get them too: they run under the same limits, and what they size from
// /proc (worker counts, heap sizes, generated configs) should match what
// the app containers will see. /proc/pressure/* is left out unless named in
// --files: runc refuses bind mounts there.
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
// mounts a volume of ours keeps it; volumes are added once, and only those
// some container uses. A pod with a mount of its own at a path we would
// mount or below it (its own /proc/meminfo, /sys/devices/system/cpu/online)
// is left alone unless those containers are skipped. The pod is marked with
// the annotation lxcfs-go.io/injected: "true".
//
// # Never a refusal
//
// Errors never block a pod: a review that is empty or cannot be decoded, an
// object that is not a pod, and a pod that mounts something of its own
// where one of our files would go are allowed unchanged, with a warning in
// the answer (HTTP 200), which kubectl shows. Pods labelled
// app.kubernetes.io/part-of: lxcfs-go (the daemon's, the webhook's) are
// never changed.
//
// # Certificates
//
// --tls-cert/--tls-key serve a key pair from files, re-read when they
// change. --self-managed (SelfManaged) needs none: a CA kept in a Secret
// and shared by the replicas, a serving certificate per replica, both
// renewed before they expire, and the MutatingWebhookConfiguration's
// caBundle kept current, through the API server with the pod's service
// account (Kube: plain net/http, not client-go).
//
// GET /healthz answers 200 for probes.
package webhook
