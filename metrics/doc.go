// Package metrics exports what the daemon is doing in the Prometheus text
// format, and a health endpoint for Kubernetes probes. It is off unless
// --metrics-addr is given.
//
// It instruments without touching the packages it watches:
//
//   - Instrument wraps the fs.Content the FUSE layer renders through and
//     counts reads, errors and latency per file.
//   - Fallback is the OnFallback of content.Options (which passes it on to
//     hostcgroup): it counts each value served from the host by its typed
//     fallback.Reason, whose String is the reason label. It reads no log
//     text and needs no debug logging: the logger is left as it is, and
//     content and hostcgroup build their debug records only when it is on.
//   - SetTrackedContainers, ObserveSamplerTick and Upgrade are for the
//     loadavg sampler and the live upgrade to call.
//
// Metric names start with lxcfs_go_. The Go runtime's (go_goroutines, ...)
// and the process's (process_resident_memory_bytes, ...) are included, so a
// soak run can watch goroutines and RSS.
package metrics
