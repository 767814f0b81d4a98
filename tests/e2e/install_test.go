package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeInstall installs into a scratch DESTDIR, with a non-default
// PREFIX, and checks that every file lands where the others point at it:
// the LXC config at the hooks, the unit and the hooks.d file at the binary.
func TestMakeInstall(t *testing.T) {
	if _, err := command(time.Minute, "make", "-C", repo(t, ""), "-n", "install"); err != nil {
		t.Skip("the Makefile has no install target yet")
	}
	dest := t.TempDir()
	const prefix = "/opt/lxcfs-go"
	out, err := command(5*time.Minute, "make", "-C", repo(t, ""), "install", "DESTDIR="+dest, "PREFIX="+prefix)
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dest, rel))
		if err != nil {
			t.Error(err)
		}
		return string(b)
	}
	executable := func(rel string) {
		t.Helper()
		st, err := os.Stat(filepath.Join(dest, rel))
		if err != nil {
			t.Error(err)
		} else if st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", rel)
		}
	}
	bin := prefix + "/bin/lxcfs-go"
	executable(bin)
	executable(prefix + "/share/lxcfs-go/lxc.mount.hook")
	executable(prefix + "/share/lxcfs-go/lxc.reboot.hook")

	conf := read(prefix + "/share/lxc/config/common.conf.d/00-lxcfs-go.conf")
	for _, want := range []string{
		"lxc.hook.mount = " + prefix + "/share/lxcfs-go/lxc.mount.hook\n",
		"lxc.hook.post-stop = " + prefix + "/share/lxcfs-go/lxc.reboot.hook\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("00-lxcfs-go.conf lacks %q:\n%s", want, conf)
		}
	}
	unit := read(prefix + "/lib/systemd/system/lxcfs-go.service")
	if !strings.Contains(unit, "ExecStart="+bin+" ") {
		t.Errorf("the installed unit does not start %s:\n%s", bin, unit)
	}
	hooks := read(prefix + "/share/containers/oci/hooks.d/lxcfs-go.json")
	if !strings.Contains(hooks, `"path": "`+bin+`"`) {
		t.Errorf("the installed hooks.d file does not run %s:\n%s", bin, hooks)
	}
	for _, page := range []string{"lxc.md", "oci.md", "docker.md", "kubernetes.md", "systemd.md"} {
		read(prefix + "/share/doc/lxcfs-go/" + page)
	}
}
