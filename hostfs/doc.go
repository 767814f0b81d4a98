// Package hostfs owns the host's kernel files: every read of procfs, sysfs
// and cgroupfs on the daemon's read path goes through one FS value, and
// every format read from them more than once is parsed here, once, by a
// pure ParseX function.
//
// # The FS value
//
// New builds an FS from the procfs and sysfs roots and a clock, in the
// manner of prometheus/procfs's NewFS(root): nothing in the package names
// "/proc" except as the default root, so tests pass fixture trees. The FS
// holds what used to be package variables of content and hostcgroup:
//
//   - the kept-fd cache (internal/kfile): a file the kernel generates as one
//     seq_file record is kept open and read with one pread at offset 0,
//     which regenerates it; any error drops the fd and the next read opens
//     the path again (SingleRecord names those files);
//   - the host's /proc/meminfo and /proc/stat texts, reused for MeminfoTTL
//     and StatTTL;
//   - the host's /proc/cpuinfo text, reused for CPUInfoTTL and read again
//     at once when the online CPU list changes (hotplug);
//   - the online CPU list's text, kept while the file reads the same.
//
// The lifetimes are measured on the clock given to New, so tests move time
// forward instead of sleeping. One FS serves the whole daemon: content
// builds it and hands it to hostcgroup through their Options.
//
// # Parsers
//
// ParseMountinfo, ParseStatStartTicks, ParseStatusField and ParseUptime
// take the bytes (or a reader) of one file and return typed values; they
// never panic on kernel input, and their errors wrap ErrParse. CutLine is
// the one line splitter of kernel text. The hooks and the webhook, which
// run in other processes, may import this package: it depends on nothing
// of the daemon's.
//
// # Concurrency
//
// An FS is safe for concurrent use. Cached texts are shared between
// callers and must not be modified.
package hostfs
