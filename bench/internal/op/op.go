// Package op is the operation every read benchmark times: open, read(2)
// until end of file, close, as a program reading a /proc file does.
package op

import "golang.org/x/sys/unix"

// Read opens path, reads it into buf until read(2) returns 0 and closes
// it; it returns the bytes read. Each read(2) asks for the rest of buf, so
// buf[:n] is the file when it fits; once less than half of buf is left,
// each read(2) asks for (and overwrites) buf's second half.
func Read(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		dst := buf[min(total, len(buf)):]
		if len(dst) < len(buf)/2 {
			dst = buf[len(buf)/2:]
		}
		n, err := unix.Read(fd, dst)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return total, err
		}
		if n == 0 {
			break
		}
		total += n
	}
	return total, unix.Close(fd)
}
