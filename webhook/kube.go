package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A client of the five Kubernetes API calls the self-managed certificates
// need (get, create and update a Secret; get and patch the webhook
// configuration), in plain net/http and JSON. Not client-go: it would add
// some twenty modules and several MB to a binary that is mostly a FUSE
// daemon, for calls whose JSON fits in a few small structs.

// ServiceAccountDir is where Kubernetes mounts a pod's API credentials.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Sentinels for API answers the caller acts on.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict") // already exists, or changed since read
)

// Kube talks to one API server.
type Kube struct {
	// Base is the API server's URL, e.g. https://10.96.0.1:443.
	Base string
	// TokenFile is read before every request: projected service account
	// tokens are rotated by the kubelet.
	TokenFile string
	HTTP      *http.Client
}

// InClusterKube is the API server a pod reaches with its service account:
// base overrides $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (a
// cluster without kube-proxy cannot reach the Service's address).
func InClusterKube(base, saDir string) (*Kube, error) {
	if base == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, errors.New("not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset (use --kube-api)")
		}
		base = "https://" + net.JoinHostPort(host, port)
	}
	if _, err := url.Parse(base); err != nil {
		return nil, fmt.Errorf("API server address %q: %w", base, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("the service account's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: no certificate in %s", ErrCert, filepath.Join(saDir, "ca.crt"))
	}
	return &Kube{
		Base:      strings.TrimRight(base, "/"),
		TokenFile: filepath.Join(saDir, "token"),
		HTTP: &http.Client{
			Timeout:   15 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}, nil
}

// Secret is the part of a core/v1 Secret this webhook uses.
type Secret struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   ObjectMeta        `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Data       map[string][]byte `json:"data"`
}

// ObjectMeta is the part of metadata this webhook uses.
type ObjectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
}

// WebhookConfiguration is the part of a MutatingWebhookConfiguration this
// webhook uses.
type WebhookConfiguration struct {
	Metadata ObjectMeta `json:"metadata"`
	Webhooks []struct {
		Name         string `json:"name"`
		ClientConfig struct {
			CABundle []byte `json:"caBundle,omitempty"`
		} `json:"clientConfig"`
	} `json:"webhooks"`
}

func secretPath(ns, name string) string {
	return "/api/v1/namespaces/" + url.PathEscape(ns) + "/secrets/" + url.PathEscape(name)
}

func webhookConfigPath(name string) string {
	return "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + url.PathEscape(name)
}

// GetSecret reads a Secret; ErrNotFound if there is none.
func (k *Kube) GetSecret(ctx context.Context, ns, name string) (*Secret, error) {
	var s Secret
	return &s, k.do(ctx, "GET", secretPath(ns, name), "", nil, &s)
}

// CreateSecret creates s; ErrConflict if it exists.
func (k *Kube) CreateSecret(ctx context.Context, s *Secret) (*Secret, error) {
	s.APIVersion, s.Kind = "v1", "Secret"
	var out Secret
	return &out, k.do(ctx, "POST", "/api/v1/namespaces/"+url.PathEscape(s.Metadata.Namespace)+"/secrets", "application/json", s, &out)
}

// UpdateSecret replaces s; ErrConflict if it changed since s was read
// (s.Metadata.ResourceVersion).
func (k *Kube) UpdateSecret(ctx context.Context, s *Secret) (*Secret, error) {
	s.APIVersion, s.Kind = "v1", "Secret"
	var out Secret
	return &out, k.do(ctx, "PUT", secretPath(s.Metadata.Namespace, s.Metadata.Name), "application/json", s, &out)
}

// GetWebhookConfiguration reads a MutatingWebhookConfiguration.
func (k *Kube) GetWebhookConfiguration(ctx context.Context, name string) (*WebhookConfiguration, error) {
	var c WebhookConfiguration
	return &c, k.do(ctx, "GET", webhookConfigPath(name), "", nil, &c)
}

// SetCABundle sets caBundle of every webhook of the configuration as read
// in c, failing with ErrConflict if it changed since.
func (k *Kube) SetCABundle(ctx context.Context, c *WebhookConfiguration, bundle []byte) error {
	ops := []map[string]any{{"op": "test", "path": "/metadata/resourceVersion", "value": c.Metadata.ResourceVersion}}
	for i := range c.Webhooks {
		// "add" sets a member whether or not it is there.
		ops = append(ops, map[string]any{"op": "add", "path": fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), "value": bundle})
	}
	return k.do(ctx, "PATCH", webhookConfigPath(c.Metadata.Name), "application/json-patch+json", ops, nil)
}

// apiStatus is the body of an API error.
type apiStatus struct {
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

func (k *Kube) do(ctx context.Context, method, path, contentType string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.Base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if k.TokenFile != "" {
		token, err := os.ReadFile(k.TokenFile)
		if err != nil {
			return fmt.Errorf("service account token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	resp, err := k.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var st apiStatus
		json.Unmarshal(b, &st)
		msg := st.Message
		if msg == "" {
			msg = strings.TrimSpace(string(b))
		}
		err := fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
		switch resp.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		case http.StatusConflict:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case http.StatusUnprocessableEntity:
			// A failed JSON patch "test": changed since it was read.
			if strings.Contains(msg, "test") {
				return fmt.Errorf("%w: %v", ErrConflict, err)
			}
		}
		return err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}
