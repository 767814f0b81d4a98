package read

import (
	"fmt"
	"os"

	"github.com/lxcfs-go/lxcfs-go/bench/floor"
	"github.com/lxcfs-go/lxcfs-go/fs"
)

// runFloor serves the floor (package floor) on mnt until SIGTERM; the files
// are the host files behind every benchmarked path, read once now. With
// uring set it serves through lxcfs-go's own loop, classic (off) or
// io_uring (on).
func runFloor(mnt string, uring fs.URingMode) int {
	files := map[string][]byte{}
	for _, bf := range allFiles {
		b, err := os.ReadFile(bf.host)
		if err != nil {
			fmt.Fprintf(os.Stderr, "floor: %v\n", err)
			return 1
		}
		files[bf.rel] = b
	}
	serve := floor.Serve
	if uring != "" {
		serve = func(mnt string, files map[string][]byte) error { return floor.ServeOurLoop(mnt, files, uring) }
	}
	if err := serve(mnt, files); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
