package testenv

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// helperEnv carries the JSON list of Ops when this test binary is executed
// again as a reader (see Main).
const helperEnv = "LXCFS_GO_TESTENV_HELPER"

// OpKind is what a reader process does with a path.
type OpKind string

const (
	// OpRead opens Path, reads it to EOF in Chunk-byte read(2) calls and
	// closes it; Count times (default 1). Result.Data has one entry per
	// repetition.
	OpRead OpKind = "read"
	// OpReaddir lists Path with raw getdents64: Result.Names keeps "." and
	// ".." and any duplicate, in the order the file system gave them.
	OpReaddir OpKind = "readdir"
	// OpStat stats Path: Result.Mode and Result.Size.
	OpStat OpKind = "stat"
	// OpVanish opens Path, starts Count concurrent reads of it and exits
	// at once, before they are answered. It must be the last op; Do then
	// returns no results for it.
	OpVanish OpKind = "vanish"
)

// Op is one operation a reader performs inside its cgroup.
type Op struct {
	Kind  OpKind
	Path  string
	Count int `json:",omitempty"`
	Chunk int `json:",omitempty"`
}

// Result is what an Op found.
type Result struct {
	Op    Op
	Data  [][]byte `json:",omitempty"`
	Names []string `json:",omitempty"`
	Mode  uint32   `json:",omitempty"`
	Size  int64    `json:",omitempty"`
	// Errno is the error number of the failed call, 0 on success; Err
	// says which call failed.
	Errno syscall.Errno `json:",omitempty"`
	Err   string        `json:",omitempty"`
}

// Error returns the failure as an error wrapping the errno, nil on success.
func (r Result) Error() error {
	if r.Err == "" {
		return nil
	}
	if r.Errno != 0 {
		return fmt.Errorf("%s: %w", r.Err, r.Errno)
	}
	return errors.New(r.Err)
}

// Read is Op{Kind: OpRead, Path: path}.
func Read(path string) Op { return Op{Kind: OpRead, Path: path} }

// Readdir is Op{Kind: OpReaddir, Path: path}.
func Readdir(path string) Op { return Op{Kind: OpReaddir, Path: path} }

// Stat is Op{Kind: OpStat, Path: path}.
func Stat(path string) Op { return Op{Kind: OpStat, Path: path} }

// runHelper performs the ops in spec and writes the results as JSON to
// stdout. It is the whole program when the test binary runs as a reader.
func runHelper(spec string) int {
	var ops []Op
	if err := json.Unmarshal([]byte(spec), &ops); err != nil {
		fmt.Fprintf(os.Stderr, "testenv helper: bad %s: %v\n", helperEnv, err)
		return 2
	}
	results := make([]Result, 0, len(ops))
	for _, op := range ops {
		if op.Kind == OpVanish {
			vanish(op)
		}
		results = append(results, doOp(op))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "testenv helper: %v\n", err)
		return 2
	}
	return 0
}

func doOp(op Op) Result {
	r := Result{Op: op}
	fail := func(call string, err error) Result {
		r.Err = fmt.Sprintf("%s %s: %v", call, op.Path, err)
		var errno syscall.Errno
		if errors.As(err, &errno) {
			r.Errno = errno
		}
		return r
	}
	switch op.Kind {
	case OpRead:
		chunk := op.Chunk
		if chunk <= 0 {
			chunk = 1 << 20
		}
		buf := make([]byte, chunk)
		for range max(op.Count, 1) {
			fd, err := unix.Open(op.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fail("open", err)
			}
			var data []byte
			for {
				n, err := unix.Read(fd, buf)
				if err != nil {
					unix.Close(fd)
					return fail("read", err)
				}
				if n == 0 {
					break
				}
				data = append(data, buf[:n]...)
			}
			if err := unix.Close(fd); err != nil {
				return fail("close", err)
			}
			if data == nil {
				data = []byte{}
			}
			r.Data = append(r.Data, data)
		}
	case OpReaddir:
		names, err := rawReaddir(op.Path)
		if err != nil {
			return fail("readdir", err)
		}
		r.Names = names
	case OpStat:
		var st unix.Stat_t
		if err := unix.Stat(op.Path, &st); err != nil {
			return fail("stat", err)
		}
		r.Mode, r.Size = st.Mode, st.Size
	default:
		r.Err = fmt.Sprintf("unknown op %q", op.Kind)
	}
	return r
}

// vanish starts reads of op.Path and exits while they are in flight.
func vanish(op Op) {
	for range max(op.Count, 1) {
		fd, err := unix.Open(op.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		go func() {
			buf := make([]byte, 4096)
			for {
				if n, err := unix.Read(fd, buf); n <= 0 || err != nil {
					return
				}
			}
		}()
	}
	os.Exit(0)
}

// rawReaddir returns the names getdents64 gives for dir, including "." and
// "..", without sorting or removing duplicates.
func rawReaddir(dir string) ([]string, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 64*1024)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			// struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name.
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, fmt.Errorf("bad dirent record length %d", reclen)
			}
			name := string(b[19:reclen])
			if i := strings.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			names = append(names, name)
			b = b[reclen:]
		}
	}
}
