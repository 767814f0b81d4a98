// Package metrics exports what the daemon is doing in the Prometheus text
// format, and a health endpoint for Kubernetes probes. It is off unless
// --metrics-addr is given.
//
// It instruments without touching the packages it watches:
//
//   - Instrument wraps the fs.Content the FUSE layer renders through and
//     counts reads, errors and latency per file.
//   - LogHandler wraps the slog.Handler given to content.New and counts the
//     debug records content and cgroupview write when a value falls back to
//     the host's (the message names the reason). Records pass on to the
//     wrapped handler exactly as before.
//   - SetTrackedContainers, ObserveSamplerTick and Upgrade are for the
//     loadavg sampler and the live upgrade to call.
//
// Metric names start with lxcfs_go_. The Go runtime's (go_goroutines, ...)
// and the process's (process_resident_memory_bytes, ...) are included, so a
// soak run can watch goroutines and RSS.
package metrics
