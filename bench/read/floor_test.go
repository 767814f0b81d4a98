package read

import (
	"fmt"
	"os"

	"github.com/lxcfs-go/lxcfs-go/bench/floor"
)

// runFloor serves the floor (package floor) on mnt until SIGTERM; the files
// are the host files behind every benchmarked path, read once now.
func runFloor(mnt string) int {
	files := map[string][]byte{}
	for _, bf := range allFiles {
		b, err := os.ReadFile(bf.host)
		if err != nil {
			fmt.Fprintf(os.Stderr, "floor: %v\n", err)
			return 1
		}
		files[bf.rel] = b
	}
	if err := floor.Serve(mnt, files); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
