package realtools

import "github.com/lxcfs-go/lxcfs-go/tests/debroot"

// toolsRootfs has the tools whose output the suite checks.
var toolsRootfs = debroot.Spec{
	Suite:   "bookworm",
	Variant: "minbase",
	Packages: []string{"procps", "sysstat", "python3-psutil", "prometheus-node-exporter",
		"util-linux", "numactl", "coreutils"},
}
