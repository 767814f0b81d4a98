package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxBody bounds a review: the API server caps objects at 1.5 MiB (etcd's
// request limit), and a review carries at most two of them.
const maxBody = 4 << 20

// NewHandler serves /mutate, /mutate-opt-in and /healthz.
func NewHandler(opts Options, log *slog.Logger) http.Handler {
	optIn := opts
	optIn.RequireOptIn = true
	mux := http.NewServeMux()
	mux.Handle("POST /mutate", reviewHandler(opts, log))
	mux.Handle("POST /mutate-opt-in", reviewHandler(optIn, log))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	return mux
}

// reviewHandler answers every POST with 200 and an allowing review: a
// request it cannot read (not JSON, too big, no request, another version)
// gets a warning instead of an HTTP error, so that the API server admits
// the pod with the reason shown to whoever created it, whatever the
// webhook configuration's failurePolicy.
func reviewHandler(opts Options, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review AdmissionReview
		resp, problem := AdmissionResponse{Allowed: true}, ""
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		switch {
		case err != nil:
			problem = fmt.Sprintf("cannot read the request: %v", err)
		case len(bytes.TrimSpace(body)) == 0:
			problem = "empty request"
		default:
			if err := json.Unmarshal(body, &review); err != nil {
				problem = fmt.Sprintf("not an AdmissionReview: %v", err)
			} else if review.Request == nil {
				problem = "an AdmissionReview without a request"
			} else if review.APIVersion != APIVersion || review.Kind != "AdmissionReview" {
				problem = fmt.Sprintf("want an %s AdmissionReview, not %s %s", APIVersion, review.APIVersion, review.Kind)
				resp.UID = review.Request.UID
			}
		}
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); problem == "" && ct != "application/json" {
			problem = fmt.Sprintf("content type %q, want application/json", ct)
			resp.UID = review.Request.UID
		}
		if problem != "" {
			resp.Warnings = []string{"lxcfs-go webhook: not changed: " + problem}
			log.Warn("bad admission review", "problem", problem, "remote", r.RemoteAddr)
		} else {
			req := review.Request
			resp = Mutate(*req, opts)
			log.Info("admission review", "uid", req.UID, "namespace", req.Namespace, "name", req.Name,
				"operation", req.Operation, "patched", len(resp.Patch) > 0, "warnings", resp.Warnings)
		}
		// The answer's version is the question's, when it is one of the
		// admission API's (the API server checks).
		version := APIVersion
		if strings.HasPrefix(review.APIVersion, "admission.k8s.io/") {
			version = review.APIVersion
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(AdmissionReview{APIVersion: version, Kind: "AdmissionReview", Response: &resp})
	})
}

// Config is what `lxcfs-go webhook` is told on its command line.
type Config struct {
	Addr     string
	CertFile string
	KeyFile  string
	Options  Options
}

// Serve answers on ln with TLS until ctx is done, then shuts down gracefully.
// The key pair is read again whenever either file changes, so that a
// rotated certificate (cert-manager, a re-mounted Secret) needs no restart.
func Serve(ctx context.Context, ln net.Listener, cfg Config, log *slog.Logger) error {
	certs := &keyPair{certFile: cfg.CertFile, keyFile: cfg.KeyFile}
	if _, err := certs.get(); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           NewHandler(cfg.Options, log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return certs.get()
			},
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// keyPair loads a certificate and key and reloads them when they change.
type keyPair struct {
	certFile, keyFile string

	mu       sync.Mutex
	cert     *tls.Certificate
	certTime time.Time
	keyTime  time.Time
}

func (k *keyPair) get() (*tls.Certificate, error) {
	certInfo, err := os.Stat(k.certFile)
	if err != nil {
		return nil, err
	}
	keyInfo, err := os.Stat(k.keyFile)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && certInfo.ModTime().Equal(k.certTime) && keyInfo.ModTime().Equal(k.keyTime) {
		return k.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil // a rotation half written: keep serving the old pair
		}
		return nil, err
	}
	k.cert, k.certTime, k.keyTime = &cert, certInfo.ModTime(), keyInfo.ModTime()
	return k.cert, nil
}

const usage = `Usage: lxcfs-go webhook --tls-cert FILE --tls-key FILE [--addr ADDR] [--lxcfs-dir DIR]

A Kubernetes mutating admission webhook (AdmissionReview v1, HTTPS) that adds
lxcfs-go's files to pods: POST /mutate for pods selected by the webhook
configuration, POST /mutate-opt-in for pods labelled or annotated
lxcfs-go.io/inject=true, GET /healthz for probes.

`

// Main runs `lxcfs-go webhook` with args (those after "webhook") until
// SIGTERM or SIGINT, and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("lxcfs-go webhook", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var cfg Config
	flags.StringVar(&cfg.Addr, "addr", ":8443", "listen on `address`")
	flags.StringVar(&cfg.CertFile, "tls-cert", "", "TLS certificate `file` (PEM)")
	flags.StringVar(&cfg.KeyFile, "tls-key", "", "TLS private key `file` (PEM)")
	flags.StringVar(&cfg.Options.Dir, "lxcfs-dir", DefaultDir, "the daemon's mount `directory` on the nodes")
	flags.Usage = func() {
		fmt.Fprint(stderr, usage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 || cfg.CertFile == "" || cfg.KeyFile == "" {
		flags.Usage()
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Info("serving", "addr", ln.Addr().String(), "lxcfs-dir", cfg.Options.Dir)
	if err := Serve(ctx, ln, cfg, log); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}
