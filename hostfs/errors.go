package hostfs

import "errors"

// ErrParse is wrapped by every error about malformed kernel text. It is
// also hostcgroup's ErrParse, so that callers test one sentinel whichever
// package parsed the text.
var ErrParse = errors.New("parse error")
