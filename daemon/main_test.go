package daemon

import (
	"os"
	"testing"
	"time"
)

// TestMain runs the fd holder when a test's generation starts this binary
// as one (startHolder: "EXE fd-holder MOUNTPOINT").
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HolderSubcommand {
		os.Exit(RunHolder(os.Args[2:], HolderOptions{Grace: 5 * time.Second}, os.Stderr))
	}
	os.Exit(m.Run())
}
