package wire

// ConfigPath is where the host puts the guest's Config in the initramfs.
const ConfigPath = "/etc/v2vm.json"

// Config tells the guest what to run. The host writes it as JSON.
type Config struct {
	// Run is a regular expression on scenario names; empty runs all.
	// Setup scenarios (boot, zram, nullblk) always run because the others
	// depend on them.
	Run string `json:"run,omitempty"`
	// Modules to load, in order (dependencies first).
	Modules []Module `json:"modules"`
	// DaemonMissing is why /bin/lxcfs-go is not in the initramfs (the build
	// error); empty when it is there.
	DaemonMissing string `json:"daemon_missing,omitempty"`
	// DaemonArgs are extra options for every daemon the guest starts
	// (e.g. "-d").
	DaemonArgs []string `json:"daemon_args,omitempty"`
	// IntegrationMissing is why /bin/integration.test is not there.
	IntegrationMissing string `json:"integration_missing,omitempty"`
	// IntegrationDir is the directory the integration tests run in (the
	// package's directory under /src, holding its testdata/).
	IntegrationDir string `json:"integration_dir,omitempty"`
	// IntegrationRun is passed as -test.run to the integration tests.
	IntegrationRun string `json:"integration_run,omitempty"`
	// IntegrationSkip is passed as -test.skip to the integration tests.
	IntegrationSkip string `json:"integration_skip,omitempty"`
	// IntegrationTimeout is passed as -test.timeout (e.g. "5m").
	IntegrationTimeout string `json:"integration_timeout,omitempty"`
	// TimeoutSeconds is the guest's own watchdog: past it the guest reports
	// DONE rc=124 and powers off. The host's limit is a little longer.
	TimeoutSeconds int `json:"timeout_seconds"`
}

// Module is a kernel module file in the initramfs.
type Module struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Params string `json:"params,omitempty"`
}
