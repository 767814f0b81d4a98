package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is the part of an API server SelfManaged talks to: Secrets and
// one MutatingWebhookConfiguration, with resourceVersions, conflicts and
// JSON patch "test".
type fakeAPI struct {
	t     *testing.T
	token string

	mu      sync.Mutex
	rv      int
	secrets map[string]*Secret
	config  map[string]any // the MutatingWebhookConfiguration, as JSON
	down    bool
	calls   map[string]int
	// before runs before a request is served, with the lock held.
	before func(method, path string)
}

const configJSON = `{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration",
	"metadata":{"name":"lxcfs-go","resourceVersion":"1"},
	"webhooks":[{"name":"a","clientConfig":{"caBundle":""}},{"name":"b","clientConfig":{}},{"name":"c","clientConfig":{"service":{"name":"x"}}}]}`

func newFakeAPI(t *testing.T) (*fakeAPI, *Kube) {
	f := &fakeAPI{t: t, rv: 1, secrets: map[string]*Secret{}, calls: map[string]int{}, token: "sa-token-1"}
	if err := json.Unmarshal([]byte(configJSON), &f.config); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(f.token+"\n"), 0o600)
	return f, &Kube{Base: srv.URL, TokenFile: tokenFile, HTTP: srv.Client()}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[r.Method+" "+strings.Split(r.URL.Path, "/")[len(strings.Split(r.URL.Path, "/"))-2]]++
	if f.before != nil {
		f.before(r.Method, r.URL.Path)
	}
	if f.down {
		http.Error(w, `{"message":"etcd is down"}`, http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	status := func(code int, msg string) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","message":%q}`, msg)
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	const secrets = "/api/v1/namespaces/lxcfs-go/secrets"
	switch {
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, secrets+"/"):
		s, ok := f.secrets[strings.TrimPrefix(r.URL.Path, secrets+"/")]
		if !ok {
			status(404, "secrets not found")
			return
		}
		reply(s)
	case r.Method == "POST" && r.URL.Path == secrets:
		var s Secret
		if err := json.Unmarshal(body, &s); err != nil {
			status(400, err.Error())
			return
		}
		if _, ok := f.secrets[s.Metadata.Name]; ok {
			status(409, "already exists")
			return
		}
		f.rv++
		s.Metadata.ResourceVersion = strconv.Itoa(f.rv)
		f.secrets[s.Metadata.Name] = &s
		reply(&s)
	case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, secrets+"/"):
		var s Secret
		json.Unmarshal(body, &s)
		old, ok := f.secrets[s.Metadata.Name]
		if !ok {
			status(404, "not found")
			return
		}
		if old.Metadata.ResourceVersion != s.Metadata.ResourceVersion {
			status(409, "the object has been modified")
			return
		}
		f.rv++
		s.Metadata.ResourceVersion = strconv.Itoa(f.rv)
		f.secrets[s.Metadata.Name] = &s
		reply(&s)
	case r.Method == "GET" && r.URL.Path == "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/lxcfs-go":
		reply(f.config)
	case r.Method == "PATCH" && r.URL.Path == "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/lxcfs-go":
		if r.Header.Get("Content-Type") != "application/json-patch+json" {
			status(415, "want a JSON patch")
			return
		}
		var ops []struct {
			Op, Path string
			Value    any
		}
		json.Unmarshal(body, &ops)
		meta := f.config["metadata"].(map[string]any)
		hooks := f.config["webhooks"].([]any)
		for _, op := range ops {
			switch {
			case op.Op == "test" && op.Path == "/metadata/resourceVersion":
				if op.Value != meta["resourceVersion"] {
					status(422, "testing value /metadata/resourceVersion failed")
					return
				}
			case op.Op == "add" && strings.HasSuffix(op.Path, "/clientConfig/caBundle"):
				i, _ := strconv.Atoi(strings.Split(op.Path, "/")[2])
				hooks[i].(map[string]any)["clientConfig"].(map[string]any)["caBundle"] = op.Value
			default:
				status(422, "unexpected op "+op.Op+" "+op.Path)
				return
			}
		}
		f.rv++
		meta["resourceVersion"] = strconv.Itoa(f.rv)
		reply(f.config)
	default:
		status(404, "no route "+r.Method+" "+r.URL.Path)
	}
}

// bundles returns each webhook's caBundle, decoded.
func (f *fakeAPI) bundles() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(f.config)
	var c WebhookConfiguration
	json.Unmarshal(b, &c)
	var out []string
	for _, w := range c.Webhooks {
		out = append(out, string(w.ClientConfig.CABundle))
	}
	return out
}

func (f *fakeAPI) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newManager(kube *Kube, c *clock) *SelfManaged {
	return &SelfManaged{
		Kube: kube, Namespace: "lxcfs-go", Service: "lxcfs-go-webhook", Secret: "lxcfs-go-webhook-ca",
		WebhookConfig: "lxcfs-go", Now: c.now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// verify checks m's certificate the way the API server does: against the
// configuration's caBundle, for the Service's name, at time now.
func verify(t *testing.T, f *fakeAPI, m *SelfManaged, now time.Time) *x509.Certificate {
	t.Helper()
	cert, err := m.Certificate()
	if err != nil {
		t.Fatalf("no certificate: %v", err)
	}
	bundles := f.bundles()
	for i, b := range bundles {
		if b != bundles[0] {
			t.Errorf("webhook %d has another caBundle than webhook 0", i)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(bundles[0])) {
		t.Fatalf("caBundle has no certificate: %q", bundles[0])
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{
		DNSName: "lxcfs-go-webhook.lxcfs-go.svc", Roots: pool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		t.Errorf("the served certificate does not verify against the caBundle: %v", err)
	}
	return cert.Leaf
}

func TestSelfManagedFirstStart(t *testing.T) {
	t.Parallel()
	f, kube := newFakeAPI(t)
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newManager(kube, c)
	if _, err := m.Certificate(); err == nil {
		t.Error("a certificate before the first sync")
	}
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	leaf := verify(t, f, m, c.t)
	for _, name := range []string{"lxcfs-go-webhook", "lxcfs-go-webhook.lxcfs-go", "lxcfs-go-webhook.lxcfs-go.svc.cluster.local"} {
		if leaf.VerifyHostname(name) != nil {
			t.Errorf("certificate not for %s: %v", name, leaf.DNSNames)
		}
	}
	s := f.secrets["lxcfs-go-webhook-ca"]
	if s == nil || s.Metadata.Labels[PartOfKey] != PartOfValue || len(s.Data[secretKey]) == 0 {
		t.Fatalf("CA secret: %+v", s)
	}
	// A second round with nothing to do writes nothing.
	writes := f.calls["POST namespaces"] + f.calls["PUT secrets"] + f.calls["PATCH mutatingwebhookconfigurations"]
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if again := f.calls["POST namespaces"] + f.calls["PUT secrets"] + f.calls["PATCH mutatingwebhookconfigurations"]; again != writes {
		t.Errorf("an idle round wrote to the API: %v", f.calls)
	}
	if cert, _ := m.Certificate(); cert.Leaf != leaf {
		t.Error("an idle round changed the certificate")
	}
}

// Two replicas share one CA, so that one caBundle trusts both; the second
// loses the race to create the Secret and reads the first's.
func TestSelfManagedReplicasShareTheCA(t *testing.T) {
	t.Parallel()
	f, kube := newFakeAPI(t)
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a, b := newManager(kube, c), newManager(kube, c)
	// b reads "not found", then a creates the Secret before b does.
	raced := false
	f.before = func(method, path string) {
		if method == "POST" && !raced {
			raced = true
			f.mu.Unlock()
			if err := a.Sync(context.Background()); err != nil {
				t.Error(err)
			}
			f.mu.Lock()
		}
	}
	if err := b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !raced {
		t.Fatal("the race did not happen")
	}
	verify(t, f, a, c.t)
	verify(t, f, b, c.t)
	if len(f.secrets) != 1 {
		t.Errorf("%d secrets", len(f.secrets))
	}
}

// Someone re-applies the manifest, emptying caBundle: the next round
// sets it again. A concurrent change of the configuration is a conflict,
// retried.
func TestSelfManagedRestoresCABundle(t *testing.T) {
	t.Parallel()
	f, kube := newFakeAPI(t)
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newManager(kube, c)
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	json.Unmarshal([]byte(configJSON), &f.config)
	f.config["metadata"].(map[string]any)["resourceVersion"] = "100"
	bumped := false
	f.before = func(method, path string) {
		if method == "PATCH" && !bumped {
			bumped = true
			f.config["metadata"].(map[string]any)["resourceVersion"] = "101"
		}
	}
	f.mu.Unlock()
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bumped || f.calls["PATCH mutatingwebhookconfigurations"] != 3 {
		t.Errorf("want one patch, one conflict and a second patch: %v", f.calls)
	}
	verify(t, f, m, c.t)
}

func TestSelfManagedRenewals(t *testing.T) {
	t.Parallel()
	f, kube := newFakeAPI(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{start}
	a, b := newManager(kube, c), newManager(kube, c)
	sync := func(m *SelfManaged) {
		t.Helper()
		if err := m.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	sync(a)
	sync(b)
	first := verify(t, f, a, c.t)

	c.t = start.Add(15 * 24 * time.Hour) // half of the serving life left
	sync(a)
	if got := verify(t, f, a, c.t); got != first {
		t.Error("renewed a serving certificate with half its life left")
	}
	c.t = start.Add(21 * 24 * time.Hour) // under a third left
	sync(a)
	second := verify(t, f, a, c.t)
	if second == first || !second.NotAfter.After(first.NotAfter) {
		t.Error("did not renew a serving certificate with under a third of its life left")
	}
	oldCA := f.secrets["lxcfs-go-webhook-ca"].Data[secretCert]

	// Under a third of the CA's life left: a new CA, the old one still
	// trusted; b, not yet synced, still serves a certificate of the old
	// CA, which the bundle trusts. Then b moves to the new CA.
	c.t = start.Add(250 * 24 * time.Hour)
	b.mu.Lock()
	b.cert = mustIssue(t, oldCA, f, c.t)
	b.mu.Unlock()
	sync(a)
	newCA := f.secrets["lxcfs-go-webhook-ca"].Data[secretCert]
	if string(newCA) == string(oldCA) {
		t.Fatal("the CA was not renewed")
	}
	if certs, _ := ParseBundle([]byte(f.bundles()[0])); len(certs) != 2 {
		t.Errorf("caBundle has %d CAs, want the old and the new", len(certs))
	}
	verify(t, f, a, c.t)
	verify(t, f, b, c.t)
	sync(b)
	if b.cert.Leaf.CheckSignatureFrom(mustParseCA(t, newCA)) != nil {
		t.Error("b does not serve a certificate of the new CA after its sync")
	}

	// Once the old CA has expired it leaves the bundle.
	c.t = start.Add(366 * 24 * time.Hour)
	sync(a)
	if certs, _ := ParseBundle([]byte(f.bundles()[0])); len(certs) != 1 {
		t.Errorf("caBundle has %d CAs after the old one expired, want 1", len(certs))
	}
	verify(t, f, a, c.t)
}

func mustParseCA(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	certs, err := ParseBundle(certPEM)
	if err != nil || len(certs) != 1 {
		t.Fatalf("CA: %v", err)
	}
	return certs[0]
}

// mustIssue issues a serving certificate from the CA whose certificate is
// caPEM, with the key the secret had then (the test kept it).
func mustIssue(t *testing.T, caPEM []byte, f *fakeAPI, now time.Time) *tls.Certificate {
	t.Helper()
	f.mu.Lock()
	key := f.secrets["lxcfs-go-webhook-ca"].Data[secretKey]
	f.mu.Unlock()
	ca, err := ParseAuthority(caPEM, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"lxcfs-go-webhook.lxcfs-go.svc"}, now, ServingLifetime)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// With the API server down, the last certificate is still served; with
// no certificate yet, Sync says why.
func TestSelfManagedAPIDown(t *testing.T) {
	t.Parallel()
	f, kube := newFakeAPI(t)
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newManager(kube, c)
	f.setDown(true)
	if err := m.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "etcd is down") {
		t.Errorf("sync with the API down: %v", err)
	}
	if _, err := m.Certificate(); err == nil {
		t.Error("a certificate without a CA")
	}
	f.setDown(false)
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.setDown(true)
	c.t = c.t.Add(25 * 24 * time.Hour)
	if err := m.Sync(context.Background()); err == nil {
		t.Error("sync with the API down succeeded")
	}
	if _, err := m.Certificate(); err != nil {
		t.Errorf("the last certificate is gone with the API: %v", err)
	}
}

func TestSelfManagedBadInput(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*fakeAPI){
		"garbage CA": func(f *fakeAPI) {
			f.secrets["lxcfs-go-webhook-ca"] = &Secret{Metadata: ObjectMeta{Name: "lxcfs-go-webhook-ca", ResourceVersion: "5"},
				Data: map[string][]byte{secretCert: []byte("not pem"), secretKey: []byte("nor this")}}
		},
		"configuration without webhooks": func(f *fakeAPI) {
			f.before = func(method, path string) {
				if strings.Contains(path, "mutatingwebhookconfigurations") {
					f.config = map[string]any{}
				}
			}
		},
		"wrong token": func(f *fakeAPI) { f.token = "another" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, kube := newFakeAPI(t)
			edit(f)
			m := newManager(kube, &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
			if err := m.Sync(context.Background()); err == nil {
				t.Error("sync succeeded")
			}
		})
	}
}

// The whole path: Serve with the self-managed certificate answers a client
// that trusts only the published caBundle, as the API server does.
func TestServeSelfManaged(t *testing.T) {
	t.Parallel()
	f, kube := newFakeAPI(t)
	m := newManager(kube, &clock{time.Now()})
	m.Now = nil
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, Config{Certificate: m.Certificate}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(f.bundles()[0]))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: "lxcfs-go-webhook.lxcfs-go.svc"}}}
	resp, err := client.Post("https://"+ln.Addr().String()+"/mutate", "application/json",
		strings.NewReader(string(review(t, `{"metadata":{},"spec":{"containers":[{"name":"a"}]}}`))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil || len(out.Response.Patch) == 0 {
		t.Errorf("review through the self-managed certificate: %v %+v", err, out)
	}
}

func TestInClusterKube(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := InClusterKube("", dir); err == nil || !strings.Contains(err.Error(), "--kube-api") {
		t.Errorf("outside a pod: %v", err)
	}
	if _, err := InClusterKube("https://10.0.0.1:6443", dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no ca.crt: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not a certificate"), 0o644)
	if _, err := InClusterKube("https://10.0.0.1:6443", dir); !errors.Is(err, ErrCert) {
		t.Errorf("a bad ca.crt: %v", err)
	}
	ca, err := NewAuthority(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ca.crt"), ca.CertPEM, 0o644)
	t.Setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	k, err := InClusterKube("", dir)
	if err != nil || k.Base != "https://[fd00::1]:443" || k.TokenFile != filepath.Join(dir, "token") {
		t.Errorf("in cluster: %+v %v", k, err)
	}
}
