package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/v2vm/wire"
)

const integrationBin = "/bin/integration.test"

// integration runs the integration test binary (go test -c of
// tests/integration) on this pure-v2 kernel, with -test.v=test2json so the
// host can turn its output into subtests with "go tool test2json". Each
// output line travels as a V2VM-ITEST record; the overall result is one
// "integration" record.
func (g *guest) integration() {
	const name = "integration"
	if _, err := os.Stat(integrationBin); err != nil {
		why := "no " + integrationBin + " in the initramfs"
		if g.cfg.IntegrationMissing != "" {
			why += " (" + firstLine(g.cfg.IntegrationMissing) + ")"
		}
		g.skip(name, why)
		return
	}
	// Without LXCFS_GO_BIN the testenv would build the daemon with go,
	// which the guest does not have: every test would fail for that alone.
	if why := g.daemonMissing(); why != "" {
		g.skip(name, why)
		return
	}
	timeout := g.cfg.IntegrationTimeout
	if timeout == "" {
		timeout = "5m"
	}
	args := []string{"-test.v=test2json", "-test.timeout", timeout}
	if g.cfg.IntegrationRun != "" {
		args = append(args, "-test.run", g.cfg.IntegrationRun)
	}
	if g.cfg.IntegrationSkip != "" {
		args = append(args, "-test.skip", g.cfg.IntegrationSkip)
	}
	cmd := exec.Command(integrationBin, args...)
	cmd.Dir = "/"
	if g.cfg.IntegrationDir != "" {
		if st, err := os.Stat(g.cfg.IntegrationDir); err == nil && st.IsDir() {
			cmd.Dir = g.cfg.IntegrationDir
		}
	}
	cmd.Env = []string{"PATH=/bin", "HOME=/root", "TMPDIR=/tmp", "LXCFS_GO_V2VM=1", "LXCFS_GO_BIN=" + daemonBin, "LXCFS_GO_ISOLATION_SECONDS=3"}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		g.failErr(name, integrationBin, err, "")
		return
	}
	g.logf("running %s %v in %s", integrationBin, args, cmd.Dir)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		br := bufio.NewReader(pr)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				g.con.line(wire.FormatITest(line))
			}
			if err != nil {
				return
			}
		}
	}()
	err := cmd.Wait()
	pw.Close()
	<-copied
	g.info("integration/time", time.Since(t0).String())
	if err != nil {
		g.result(failf(name, integrationBin, "exit status",
			fmt.Sprintf("%s %v: %v (the failing tests are reported as integration/<Test>)", integrationBin, args, err), ""))
		return
	}
	g.pass(name, integrationBin, "exit status", "0")
}
