package daemon

import (
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lxcfs-go/lxcfs-go/fs"
)

// FileSystem is what the life cycle needs of the node layer, *fs.FS: it
// answers the requests, and its node table and handles go to the next
// generation, or to whoever keeps the connection across a crash.
type FileSystem interface {
	fuse.RawFileSystem
	// HandleEpoch is the epoch of the handles it gives out; a successor
	// is built with the next one (nextHandleEpoch).
	HandleEpoch() uint16
	// ExportState snapshots the node table, and with handles set (a
	// hand-over, after the server drained) the open handles.
	ExportState(handles bool) *fs.State
	// ImportState adds a predecessor's table before anything is served.
	ImportState(st *fs.State) error
	// NodesChanged receives after the node table changed.
	NodesChanged() <-chan struct{}
}

var _ FileSystem = (*fs.FS)(nil)

// nextHandleEpoch is the epoch a successor of a generation with epoch e
// uses; 0 is skipped so that a zero epoch always means "first".
func nextHandleEpoch(e uint16) uint16 {
	e++
	if e == 0 {
		e = 1
	}
	return e
}
