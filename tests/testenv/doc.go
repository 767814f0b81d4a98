// Package testenv is the harness for tests that run lxcfs-go against the real
// host: real FUSE mounts, real cgroups, real pid namespaces. The integration
// tests (tests/integration), the cgroup-v2 VM run of those same tests and the
// benchmarks share it.
//
// # What it gives a test
//
//   - Skip guards: RequireRoot, RequireFUSE, RequireCPUs.
//   - Cgroups that work on v1, hybrid and pure v2 hosts: NewCgroup creates
//     "lxcfs-go-test-<random>" at the root of every hierarchy it needs,
//     Child nests, MemoryLimit/CPUs/CPUQuota set limits in the v1 or v2
//     spelling, and t.Cleanup removes the tree deepest-first.
//   - Readers inside a cgroup with no window in the parent's cgroup: the
//     reader is "sh" that writes its own pid into every cgroup.procs and then
//     execs the real command (Cgroup.Run), or execs this test binary again in
//     helper mode (Cgroup.Do) to perform exact system calls (reads of a given
//     size, pread past the end, raw getdents) and report them as JSON.
//   - Containers: StartContainer starts the init of a new pid namespace
//     inside a cgroup; Container.Do and Container.Run run readers inside that
//     namespace, in any cgroup.
//   - Daemons: StartDaemon mounts lxcfs-go on a temporary directory, waits
//     until the mount answers and, in t.Cleanup, stops it with SIGTERM,
//     unmounts lazily if needed and SIGKILLs it if it lingers.
//     EnsureReference installs the reference lxcfs (Debian's 5.0.3) and
//     StartReference runs a private instance of it the same way.
//
// # TestMain
//
// A package using testenv must call Main from its TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Main serves helper-mode re-executions of the test binary, removes what a
// killed earlier run left behind (CleanupStale) when no other test process
// is running, and deletes the daemon binary it built.
//
// # The daemon binary
//
// LXCFS_GO_BIN names a prebuilt binary. Without it the first StartDaemon
// builds ./cmd/lxcfs-go of the module that contains the working directory
// (found with "go env GOMOD"), with -race when the tests are built with
// -race, so that concurrent-reader tests also race-check the daemon.
//
// # Rules the helpers keep
//
// They only touch cgroups named lxcfs-go-test-*, processes they started
// (killed by PID), and mounts on their own temporary directories. The
// machine's own cgroups are never written.
package testenv
