package daemon

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/fs"
)

// systemd's fd store (FileDescriptorStoreMax= in the unit) is a second
// keeper of the connection: the daemon stores the FUSE fd there under the
// name "fuse", with memfds "fuse-state0" and "fuse-state1" holding the INIT
// request, the mount's identity and the node table, and systemd hands both back (LISTEN_FDS,
// LISTEN_FDNAMES; the command reads them and passes them to fromFDStore) when
// it restarts the service after a crash. The fd holder
// process is tried first; the store is the fallback, for instance when the
// holder was killed along with the daemon.

const (
	fdNameConn  = "fuse"
	fdNameState = "fuse-state"
)

type fdStoreState struct {
	Init  []byte    `json:"init"`
	Mount MountID   `json:"mount"`
	State *fs.State `json:"state,omitempty"`
}

// fdStore is this daemon's entry in systemd's fd store: the connection,
// and two memfds that take turns holding the INIT request, the mount's
// identity and the node table, so that a crash in the middle of an update
// leaves the other one whole.
//
// The memfds are *os.File values, closed only through them: a raw fd number
// kept beside a File that the collector later finalizes would be closed a
// second time, by then perhaps as some other file (the /dev/fuse fd of a
// resumed connection was, in a test that resumed in the same process).
type fdStore struct {
	slots [2]*os.File
	seq   uint64
}

// storeInFDStore puts s's connection into systemd's fd store when systemd
// started us (n has a socket); it returns nil otherwise.
func storeInFDStore(n Notifier, s *fs.Server, f FileSystem) (*fdStore, error) {
	if !n.Enabled() {
		return nil, nil
	}
	// Whatever an earlier connection left there is stale now.
	removeFromFDStore(n)
	st := &fdStore{}
	for i := range st.slots {
		fd, err := unix.MemfdCreate("lxcfs-go-fuse-state", unix.MFD_CLOEXEC)
		if err != nil {
			st.close()
			return nil, err
		}
		st.slots[i] = os.NewFile(uintptr(fd), "fuse-state"+strconv.Itoa(i))
	}
	mid, _ := LookupMount(s.Dir())
	if err := st.put(s.Init(), mid, f.ExportState(false)); err != nil {
		st.close()
		return nil, err
	}
	if err := st.put(s.Init(), mid, f.ExportState(false)); err != nil {
		st.close()
		return nil, err
	}
	for i, f := range st.slots {
		if err := n.Notify("FDSTORE=1\nFDNAME="+fdNameState+strconv.Itoa(i), int(f.Fd())); err != nil {
			st.close()
			return nil, err
		}
	}
	// FDPOLL=0: systemd would otherwise watch the fd with epoll for
	// POLLERR, and the kernel wakes every poller of /dev/fuse on every
	// request: PID 1 would wake up for each read in every container. A
	// connection that ended while stored is caught at resume instead.
	if err := n.Notify("FDSTORE=1\nFDPOLL=0\nFDNAME="+fdNameConn, int(s.Conn().Fd())); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// files are the state memfds, to pass to a successor (still this store's
// to close).
func (st *fdStore) files() []*os.File { return st.slots[:] }

// adoptFDStore continues the fd store entry whose state memfds a
// predecessor passed on (or systemd handed back); the store owns the two
// files from then on.
func adoptFDStore(files []*os.File) *fdStore {
	st := &fdStore{}
	for i, f := range files[:2] {
		st.slots[i] = f
		if seq, s := readSlot(int(f.Fd())); s != nil && seq > st.seq {
			st.seq = seq
		}
	}
	return st
}

// put writes a new state into the older slot.
func (st *fdStore) put(init []byte, mid MountID, state *fs.State) error {
	body, err := json.Marshal(fdStoreState{Init: init, Mount: mid, State: state})
	if err != nil {
		return err
	}
	st.seq++
	rec := make([]byte, 16+len(body))
	binary.LittleEndian.PutUint64(rec[0:], st.seq)
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(body)))
	binary.LittleEndian.PutUint32(rec[12:], crc32.ChecksumIEEE(body))
	copy(rec[16:], body)
	fd := int(st.slots[st.seq%2].Fd())
	if _, err := unix.Pwrite(fd, rec, 0); err != nil {
		return err
	}
	return unix.Ftruncate(fd, int64(len(rec)))
}

// close closes this process's copies of the memfds.
func (st *fdStore) close() {
	for _, f := range st.slots {
		if f != nil {
			f.Close()
		}
	}
}

// keepState updates the stored node table whenever it changes (at most
// once per interval) until stop is closed; see holderInfo.keepState.
func (st *fdStore) keepState(s *fs.Server, f FileSystem, interval time.Duration, stop <-chan struct{}) {
	mid, _ := LookupMount(s.Dir())
	first := true
	keepState(f.NodesChanged(), interval, stop, func() bool {
		if first {
			// The table as it was at start is stored by whoever started
			// serving; only changes need storing here.
			first = false
			return true
		}
		return st.put(s.Init(), mid, f.ExportState(false)) == nil
	})
}

// readSlot returns the state in a slot and its sequence number.
func readSlot(fd int) (uint64, *fdStoreState) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Size < 16 || st.Size > maxMessage {
		return 0, nil
	}
	b := make([]byte, st.Size)
	n, err := unix.Pread(fd, b, 0)
	if err != nil || n < 16 {
		return 0, nil
	}
	size := binary.LittleEndian.Uint32(b[8:])
	if int(size) > n-16 {
		return 0, nil
	}
	body := b[16 : 16+size]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[12:]) {
		return 0, nil
	}
	var s fdStoreState
	if json.Unmarshal(body, &s) != nil {
		return 0, nil
	}
	return binary.LittleEndian.Uint64(b[0:]), &s
}

// removeFromFDStore takes the connection out of the fd store (a clean
// stop).
func removeFromFDStore(n Notifier) {
	if !n.Enabled() {
		return
	}
	n.Notify("FDSTOREREMOVE=1\nFDNAME=" + fdNameConn)
	n.Notify("FDSTOREREMOVE=1\nFDNAME=" + fdNameState + "0")
	n.Notify("FDSTOREREMOVE=1\nFDNAME=" + fdNameState + "1")
}

// fromFDStore returns the connection systemd handed back, if it did: n
// descriptors from fd 3 on (LISTEN_FDS, when LISTEN_PID is this process),
// named by names (LISTEN_FDNAMES). The caller clears those variables, so
// that no child inherits them.
func fromFDStore(n int, names []string) (*keptConn, error) {
	if n <= 0 {
		return nil, nil
	}
	var conn *os.File
	var best *fdStoreState
	var bestSeq uint64
	var slots []*os.File
	for i := range n {
		fd := 3 + i
		unix.CloseOnExec(fd)
		name := ""
		if i < len(names) {
			name = names[i]
		}
		switch {
		case name == fdNameConn && conn == nil:
			conn = os.NewFile(uintptr(fd), "/dev/fuse")
			continue
		case strings.HasPrefix(name, fdNameState) && len(slots) < 2:
			if seq, st := readSlot(fd); st != nil && seq >= bestSeq {
				best, bestSeq = st, seq
			}
			slots = append(slots, os.NewFile(uintptr(fd), "fuse-state"))
			continue
		}
		unix.Close(fd)
	}
	closeSlots := func() {
		for _, f := range slots {
			f.Close()
		}
	}
	if conn == nil {
		closeSlots()
		return nil, nil
	}
	if best == nil || len(best.Init) == 0 {
		conn.Close()
		closeSlots()
		return nil, errors.New("fd store: the connection came without its state")
	}
	kept := &keptConn{conn: conn, init: best.Init, mount: best.Mount, state: best.State}
	if len(slots) == 2 {
		kept.fdstore = adoptFDStore(slots)
	} else {
		closeSlots()
	}
	return kept, nil
}
