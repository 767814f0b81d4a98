package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
	"github.com/lxcfs-go/lxcfs-go/webhook"
)

// webhookEnv makes this test binary run as `lxcfs-go webhook` (webhook.Main)
// for daemon binaries without that command.
const webhookEnv = "LXCFS_GO_E2E_WEBHOOK"

// TestWebhookServer makes a certificate with docs/kubernetes.md's openssl
// command, runs `lxcfs-go webhook` with it and posts an AdmissionReview the
// way the API server does: HTTPS to the service name, checked against the
// certificate as the caBundle.
func TestWebhookServer(t *testing.T) {
	ensureTools(t, tool{"openssl", "openssl"})
	dir := t.TempDir()
	cmdline := strings.ReplaceAll(docBlock(t, "kubernetes.md", "webhook-cert"), "\\\n", " ")
	gen := exec.Command("sh", "-c", cmdline)
	gen.Dir = dir
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("docs/kubernetes.md openssl command: %v\n%s", err, out)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}

	// A free port: listen, note it, close, hand it to the server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	args := []string{"webhook", "--addr", addr, "--tls-cert", filepath.Join(dir, "tls.crt"),
		"--tls-key", filepath.Join(dir, "tls.key"), "--lxcfs-dir", "/var/lib/lxcfs"}
	var server *exec.Cmd
	bin := testenv.DaemonBinary(t)
	if out, _ := exec.Command(bin, "webhook", "--help").CombinedOutput(); strings.Contains(string(out), "AdmissionReview") {
		server = exec.Command(bin, args...)
	} else {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s has no webhook command yet; the test binary runs webhook.Main instead", bin)
		server = exec.Command(self, args[1:]...)
		server.Env = append(os.Environ(), webhookEnv+"=1")
	}
	var logs bytes.Buffer
	server.Stdout, server.Stderr = &logs, &logs
	server.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- server.Wait() }()
	t.Cleanup(func() {
		server.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("webhook exit after SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			server.Process.Kill()
			t.Error("webhook did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("webhook output:\n%s", logs.String())
		}
	})

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("tls.crt is not PEM")
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:    pool,
			ServerName: "lxcfs-go-webhook.lxcfs-go.svc", // as the API server calls the Service
		}},
	}
	base := "https://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"apps",
		"labels":{"lxcfs-go.io/inject":"true"}},"spec":{"containers":[{"name":"app","image":"busybox"}]}}`
	review := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
		"uid":"0a1b2c3d-0000-4000-8000-00000000abcd","kind":{"group":"","version":"v1","kind":"Pod"},
		"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","operation":"CREATE",
		"object":%s}}`, pod)
	resp, err := client.Post(base+"/mutate", "application/json", strings.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got webhook.AdmissionReview
	if err := json.Unmarshal(body, &got); err != nil || got.Response == nil {
		t.Fatalf("response %s: %v", body, err)
	}
	r := got.Response
	if r.UID != "0a1b2c3d-0000-4000-8000-00000000abcd" || !r.Allowed || r.PatchType != "JSONPatch" {
		t.Errorf("response %+v, want the request's uid, allowed, a JSONPatch", r)
	}
	var ops []webhook.Operation
	if err := json.Unmarshal(r.Patch, &ops); err != nil {
		t.Fatalf("patch %q: %v", r.Patch, err)
	}
	paths := map[string]bool{}
	for _, op := range ops {
		paths[op.Path] = true
	}
	for _, want := range []string{"/spec/volumes", "/spec/containers/0/volumeMounts", "/metadata/annotations"} {
		if !paths[want] {
			t.Errorf("patch has no op at %s: %s", want, r.Patch)
		}
	}
	if !strings.Contains(string(r.Patch), `"/var/lib/lxcfs/proc/meminfo"`) {
		t.Errorf("patch does not bind /var/lib/lxcfs/proc/meminfo: %s", r.Patch)
	}
}
