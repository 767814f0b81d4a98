package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key,
// with the given serial number, and returns it for the client's pool.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "lxcfs-go-webhook.lxcfs-go.svc"},
		DNSNames:              []string{"lxcfs-go-webhook.lxcfs-go.svc"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Write the key first: a reader that sees the new certificate must find
	// the matching key.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// startServer runs Serve on a loopback port with a fresh certificate and
// returns its URL, a client that trusts it, and the certificate files.
func startServer(t *testing.T, opts Options) (url string, client *http.Client, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert := writeCert(t, certFile, keyFile, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		done <- Serve(ctx, ln, Config{CertFile: certFile, KeyFile: keyFile, Options: opts}, log)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client = &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			DisableKeepAlives: true, // every request does a handshake
		},
	}
	return "https://" + ln.Addr().String(), client, certFile, keyFile
}

func review(t *testing.T, podJSON string) []byte {
	t.Helper()
	req := request(t, podJSON)
	b, err := json.Marshal(AdmissionReview{APIVersion: APIVersion, Kind: "AdmissionReview", Request: &req})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServeMutate(t *testing.T) {
	t.Parallel()
	url, client, _, _ := startServer(t, Options{Dir: "/srv/lxcfs"})
	const p = `{"metadata":{"name":"web"},"spec":{"containers":[{"name":"app"}]}}`

	for path, wantPatch := range map[string]bool{"/mutate": true, "/mutate-opt-in": false} {
		resp, err := client.Post(url+path, "application/json", bytes.NewReader(review(t, p)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
		}
		var got AdmissionReview
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, body)
		}
		if got.APIVersion != APIVersion || got.Kind != "AdmissionReview" || got.Response == nil || got.Request != nil {
			t.Fatalf("%s: not a v1 review with only a response: %s", path, body)
		}
		r := got.Response
		if r.UID != request(t, p).UID || !r.Allowed {
			t.Errorf("%s: uid %q allowed %v", path, r.UID, r.Allowed)
		}
		if (len(r.Patch) > 0) != wantPatch {
			t.Errorf("%s: patch %q, want a patch: %v", path, r.Patch, wantPatch)
		}
		if wantPatch && !strings.Contains(string(r.Patch), `"/srv/lxcfs/proc/meminfo"`) {
			t.Errorf("%s: patch does not use --lxcfs-dir: %s", path, r.Patch)
		}
		// The API server wants the patch base64-encoded in the JSON.
		if wantPatch && !strings.Contains(string(body), `"patch":"W3`) {
			t.Errorf("%s: patch is not base64 in the body: %s", path, body)
		}
	}
}

// Bad requests get 200 and an allowing review with a warning, never an
// HTTP error: the API server admits the pod and shows why nothing was
// added. Only requests that are not reviews at all (wrong method or path)
// get HTTP errors.
func TestServeBadRequestsAreAllowed(t *testing.T) {
	t.Parallel()
	url, client, _, _ := startServer(t, Options{})
	good := review(t, `{"metadata":{},"spec":{"containers":[{"name":"a"}]}}`)
	v1beta1 := bytes.Replace(good, []byte(APIVersion), []byte("admission.k8s.io/v1beta1"), 1)
	tests := []struct {
		name, method, path, contentType string
		body                            []byte
		status                          int
		uid                             string // of the answer, when it is a review
		warning                         string // "" for none
		patched                         bool
	}{
		{"healthz", "GET", "/healthz", "", nil, http.StatusOK, "", "", false},
		{"get on mutate", "GET", "/mutate", "", nil, http.StatusMethodNotAllowed, "", "", false},
		{"unknown path", "POST", "/validate", "application/json", good, http.StatusNotFound, "", "", false},
		{"good", "POST", "/mutate", "application/json", good, http.StatusOK, "7f0b2c4e-0000-4000-8000-000000000001", "", true},
		{"charset", "POST", "/mutate", "application/json; charset=utf-8", good, http.StatusOK, "7f0b2c4e-0000-4000-8000-000000000001", "", true},
		{"empty", "POST", "/mutate", "application/json", nil, http.StatusOK, "", "empty request", false},
		{"blank", "POST", "/mutate", "application/json", []byte(" \n"), http.StatusOK, "", "empty request", false},
		{"not json", "POST", "/mutate", "application/json", []byte("{"), http.StatusOK, "", "not an AdmissionReview", false},
		{"wrong content type", "POST", "/mutate", "text/plain", good, http.StatusOK, "7f0b2c4e-0000-4000-8000-000000000001", "content type", false},
		{"v1beta1", "POST", "/mutate", "application/json", v1beta1, http.StatusOK, "7f0b2c4e-0000-4000-8000-000000000001", "want an admission.k8s.io/v1", false},
		{"no request", "POST", "/mutate", "application/json",
			[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), http.StatusOK, "", "without a request", false},
		{"too big", "POST", "/mutate", "application/json",
			append(append([]byte(`{"apiVersion":"`), bytes.Repeat([]byte("x"), maxBody)...), `"}`...),
			http.StatusOK, "", "cannot read the request", false},
		{"malformed pod", "POST", "/mutate", "application/json",
			review(t, `{"spec":{"containers":{"a":1}}}`), http.StatusOK, "7f0b2c4e-0000-4000-8000-000000000001", "cannot read it", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, url+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.method != "POST" || tt.path != "/mutate" {
				return
			}
			var out AdmissionReview
			if err := json.Unmarshal(body, &out); err != nil || out.Response == nil {
				t.Fatalf("answer is not a review: %v %s", err, body)
			}
			r := out.Response
			if !r.Allowed || r.UID != tt.uid || (len(r.Patch) > 0) != tt.patched {
				t.Errorf("answer %+v, want allowed, uid %q, patched %v", r, tt.uid, tt.patched)
			}
			switch {
			case tt.warning == "" && r.Warnings != nil:
				t.Errorf("warnings %q, want none", r.Warnings)
			case tt.warning != "" && (len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], tt.warning)):
				t.Errorf("warnings %q, want one saying %q", r.Warnings, tt.warning)
			}
			if want := map[bool]string{true: "admission.k8s.io/v1beta1", false: APIVersion}[tt.name == "v1beta1"]; out.APIVersion != want {
				t.Errorf("answer's apiVersion %q, want %q", out.APIVersion, want)
			}
		})
	}
}

// A rotated certificate is served from the next handshake on.
func TestServeReloadsCertificate(t *testing.T) {
	t.Parallel()
	url, client, certFile, keyFile := startServer(t, Options{})
	serial := func() int64 {
		t.Helper()
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	// File systems with coarse timestamps: make the change visible.
	time.Sleep(20 * time.Millisecond)
	next := writeCert(t, certFile, keyFile, 2)
	later := time.Now().Add(time.Second)
	os.Chtimes(certFile, later, later)
	os.Chtimes(keyFile, later, later)
	client.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(next)
	if got := serial(); got != 2 {
		t.Errorf("serial %d after rotation, want 2", got)
	}
}

func TestServeNeedsKeyPair(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cfg := Config{CertFile: filepath.Join(dir, "missing.crt"), KeyFile: filepath.Join(dir, "missing.key")}
	if err := Serve(context.Background(), ln, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("Serve started without a certificate")
	}
}

func TestHandlerWithHTTPTest(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(NewHandler(Options{}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+"/mutate", "application/json",
		bytes.NewReader(review(t, `{"metadata":{"labels":{"lxcfs-go.io/inject":"false"}},"spec":{"containers":[{"name":"a"}]}}`)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Response == nil || !got.Response.Allowed || got.Response.Patch != nil {
		t.Errorf("opted-out pod: %+v, want allowed without a patch", got.Response)
	}
}

func TestMainFlags(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	if code := Main([]string{"-h"}, io.Discard, &stderr); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "--tls-cert") && !strings.Contains(stderr.String(), "-tls-cert") {
		t.Errorf("-h does not list --tls-cert:\n%s", stderr.String())
	}
	if code := Main(nil, io.Discard, io.Discard); code != 2 {
		t.Errorf("no certificate: exit %d, want 2", code)
	}
	if code := Main([]string{"--tls-cert", "c", "--tls-key", "k", "extra"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("extra argument: exit %d, want 2", code)
	}
}

func TestMainCertificateModes(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--tls-cert", "c"}, 2, "either --tls-cert and --tls-key"},
		{[]string{"--self-managed", "--tls-cert", "c", "--tls-key", "k"}, 2, "either"},
		{[]string{"--self-managed", "--sync-interval", "0s"}, 2, "either"},
		{[]string{"--self-managed", "--addr", "127.0.0.1:0"}, 1, "--kube-api"},
	} {
		var stderr bytes.Buffer
		if code := Main(tc.args, io.Discard, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, want %d saying %q:\n%s", tc.args, code, tc.code, tc.want, stderr.String())
		}
	}
}

func TestMainFilesFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		files string
		want  string
	}{
		{"proc/meminfo,etc/shadow", `"etc/shadow" is not one of`},
		{" , ", "names no file"},
	} {
		var stderr bytes.Buffer
		if code := Main([]string{"--files", tc.files, "--self-managed"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("--files %q: exit %d, want 2 saying %q:\n%s", tc.files, code, tc.want, stderr.String())
		}
	}
}
