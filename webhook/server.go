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
	"slices"
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
	// Certificate, when set, serves the certificate instead of the files
	// (SelfManaged.Certificate).
	Certificate func() (*tls.Certificate, error)
	Options     Options
}

// Serve answers on ln with TLS until ctx is done, then shuts down gracefully.
// The key pair is read again whenever either file changes, so that a
// rotated certificate (cert-manager, a re-mounted Secret) needs no restart.
func Serve(ctx context.Context, ln net.Listener, cfg Config, log *slog.Logger) error {
	getCert := cfg.Certificate
	if getCert == nil {
		getCert = (&keyPair{certFile: cfg.CertFile, keyFile: cfg.KeyFile}).get
	}
	if _, err := getCert(); err != nil {
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
				return getCert()
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

const usage = `Usage: lxcfs-go webhook (--tls-cert FILE --tls-key FILE | --self-managed) [options]

A Kubernetes mutating admission webhook (AdmissionReview v1, HTTPS) that adds
lxcfs-go's files to pods: POST /mutate for pods selected by the webhook
configuration, POST /mutate-opt-in for pods labelled or annotated
lxcfs-go.io/inject=true, GET /healthz for probes.

With --self-managed it needs no certificate work: it keeps a CA in the Secret
--ca-secret, serves a certificate signed by it for the Service --service,
renews both before they expire, and keeps the caBundle of the
MutatingWebhookConfiguration --webhook-config current, through the API server
with the pod's service account.

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
	files := flags.String("files", strings.Join(Files, ","), "the daemon's `files` a pod gets, separated by commas; add "+
		strings.Join(PressureFiles, ",")+" only where the runtime allows binding them (runc does not)")
	selfManaged := flags.Bool("self-managed", false, "make, renew and publish its own CA and certificate")
	sm := SelfManaged{}
	flags.StringVar(&sm.Namespace, "namespace", "", "`namespace` of the Service and the CA Secret (default: the pod's)")
	flags.StringVar(&sm.Service, "service", "lxcfs-go-webhook", "the webhook's Service `name`")
	flags.StringVar(&sm.Secret, "ca-secret", "lxcfs-go-webhook-ca", "`name` of the Secret that keeps the CA")
	flags.StringVar(&sm.WebhookConfig, "webhook-config", "lxcfs-go", "`name` of the MutatingWebhookConfiguration whose caBundle to keep")
	kubeAPI := flags.String("kube-api", "", "API server `URL` (default: the in-cluster address)")
	interval := flags.Duration("sync-interval", time.Minute, "how often to check the CA, the caBundle and the certificate")
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
	for _, f := range strings.Split(*files, ",") {
		if f = strings.Trim(strings.TrimSpace(f), "/"); f == "" {
			continue
		} else if !KnownFile(f) {
			fmt.Fprintf(stderr, "lxcfs-go webhook: --files: %q is not one of %s\n", f, strings.Join(append(slices.Clone(Files), PressureFiles...), ", "))
			return 2
		} else if !slices.Contains(cfg.Options.Files, f) {
			cfg.Options.Files = append(cfg.Options.Files, f)
		}
	}
	if len(cfg.Options.Files) == 0 {
		fmt.Fprintln(stderr, "lxcfs-go webhook: --files names no file")
		return 2
	}
	fromFiles := cfg.CertFile != "" || cfg.KeyFile != ""
	if flags.NArg() > 0 || fromFiles == *selfManaged || (fromFiles && (cfg.CertFile == "" || cfg.KeyFile == "")) || *interval <= 0 {
		fmt.Fprintln(stderr, "lxcfs-go webhook: want either --tls-cert and --tls-key, or --self-managed")
		flags.Usage()
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *selfManaged {
		if err := startSelfManaged(ctx, &sm, *kubeAPI, *interval, log); err != nil {
			log.Error("self-managed certificates", "err", err)
			return 1
		}
		cfg.Certificate = sm.Certificate
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	log.Info("serving", "addr", ln.Addr().String(), "lxcfs-dir", cfg.Options.Dir, "files", cfg.Options.Files)
	if err := Serve(ctx, ln, cfg, log); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

// startSelfManaged connects to the API server and syncs until the first
// certificate is there (retrying: the API server may be starting too),
// then keeps syncing in the background.
func startSelfManaged(ctx context.Context, sm *SelfManaged, kubeAPI string, interval time.Duration, log *slog.Logger) error {
	kube, err := InClusterKube(kubeAPI, ServiceAccountDir)
	if err != nil {
		return err
	}
	if sm.Namespace == "" {
		b, err := os.ReadFile(ServiceAccountDir + "/namespace")
		if err != nil {
			return fmt.Errorf("no --namespace and no service account namespace: %w", err)
		}
		sm.Namespace = strings.TrimSpace(string(b))
	}
	sm.Kube, sm.Log = kube, log
	for {
		err := sm.Sync(ctx)
		if err == nil {
			break
		}
		log.Warn("certificate sync failed; retrying in 5s", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	go sm.Run(ctx, interval)
	return nil
}
