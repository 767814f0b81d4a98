package hostfs

import "bytes"

// CutLine returns the first line of b without its newline, and what
// follows the newline (nil when b has none). Parsers of kernel text loop
//
//	for len(b) > 0 {
//		var line []byte
//		line, b = hostfs.CutLine(b)
//		...
//	}
//
// which allocates nothing, unlike bufio.Scanner or bytes.Split.
func CutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}
