package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Keys of the CA Secret.
const (
	secretCert   = "tls.crt"   // the current CA
	secretKey    = "tls.key"   // its key
	secretBundle = "ca-bundle" // the CAs to trust: the current one, and its predecessor until it expires
)

// SelfManaged keeps the webhook's certificates without anyone's help:
//
//   - a CA in a Secret (made by the first replica that finds none, read by
//     the others, so that every replica's certificate is trusted by one
//     caBundle), renewed when a third of its life is left, its predecessor
//     kept in the bundle until it expires;
//   - the MutatingWebhookConfiguration's caBundle, set to that bundle
//     whenever it differs (a re-applied manifest empties it);
//   - a serving certificate per replica, for the Service's DNS names,
//     signed by the current CA and renewed when a third of its life is
//     left or the CA changes. The bundle is published before a
//     certificate from a new CA is served.
//
// Sync does one round; Run does them every interval.
type SelfManaged struct {
	Kube          *Kube
	Namespace     string // of the Service and the Secret
	Service       string
	Secret        string // the CA's Secret
	WebhookConfig string // the MutatingWebhookConfiguration's name
	Now           func() time.Time
	Log           *slog.Logger

	mu     sync.Mutex
	cert   *tls.Certificate
	issuer []byte // CertPEM of the CA that signed cert
}

// DNSNames are the names the API server may use for the Service.
func (m *SelfManaged) DNSNames() []string {
	s, ns := m.Service, m.Namespace
	return []string{s + "." + ns + ".svc", s, s + "." + ns, s + "." + ns + ".svc.cluster.local"}
}

// Certificate is the serving certificate for tls.Config.GetCertificate.
func (m *SelfManaged) Certificate() (*tls.Certificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cert == nil {
		return nil, errors.New("no serving certificate yet")
	}
	return m.cert, nil
}

func (m *SelfManaged) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Sync does one round: the CA, the caBundle, the serving certificate.
func (m *SelfManaged) Sync(ctx context.Context) error {
	ca, bundle, err := m.authority(ctx)
	if err != nil {
		return fmt.Errorf("CA secret %s/%s: %w", m.Namespace, m.Secret, err)
	}
	if err := m.publish(ctx, bundle); err != nil {
		return fmt.Errorf("caBundle of %s: %w", m.WebhookConfig, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.cert != nil && bytes.Equal(m.issuer, ca.CertPEM) && !DueForRenewal(m.cert.Leaf, now) {
		return nil
	}
	cert, err := ca.Issue(m.DNSNames(), now, ServingLifetime)
	if err != nil {
		return err
	}
	m.cert, m.issuer = cert, ca.CertPEM
	m.Log.Info("new serving certificate", "names", m.DNSNames(), "not_after", cert.Leaf.NotAfter, "ca", ca.Cert.Subject.CommonName)
	return nil
}

// authority returns the current CA and the bundle to trust, creating or
// renewing the CA in its Secret when needed. Two replicas racing meet a
// conflict; the loser reads the winner's.
func (m *SelfManaged) authority(ctx context.Context) (*Authority, []byte, error) {
	for attempt := 0; attempt < 3; attempt++ {
		now := m.now()
		s, err := m.Kube.GetSecret(ctx, m.Namespace, m.Secret)
		if errors.Is(err, ErrNotFound) {
			ca, err := NewAuthority(now, CALifetime)
			if err != nil {
				return nil, nil, err
			}
			s = &Secret{
				Metadata: ObjectMeta{Name: m.Secret, Namespace: m.Namespace,
					Labels: map[string]string{PartOfKey: PartOfValue}},
				Data: map[string][]byte{secretCert: ca.CertPEM, secretKey: ca.KeyPEM, secretBundle: ca.CertPEM},
			}
			if _, err := m.Kube.CreateSecret(ctx, s); errors.Is(err, ErrConflict) {
				continue // another replica was first: read its CA
			} else if err != nil {
				return nil, nil, err
			}
			m.Log.Info("created the CA", "secret", m.Secret, "not_after", ca.Cert.NotAfter)
			return ca, ca.CertPEM, nil
		}
		if err != nil {
			return nil, nil, err
		}
		ca, err := ParseAuthority(s.Data[secretCert], s.Data[secretKey])
		if err != nil {
			return nil, nil, err
		}
		trusted, err := ParseBundle(s.Data[secretBundle])
		if err != nil {
			return nil, nil, err
		}
		if !DueForRenewal(ca.Cert, now) {
			return ca, Bundle(append(trusted, ca.Cert), now), nil
		}
		next, err := NewAuthority(now, CALifetime)
		if err != nil {
			return nil, nil, err
		}
		// The old CA stays trusted until it expires: certificates it
		// signed are still served by replicas that have not synced yet.
		bundle := Bundle(append(trusted, ca.Cert, next.Cert), now)
		s.Data = map[string][]byte{secretCert: next.CertPEM, secretKey: next.KeyPEM, secretBundle: bundle}
		if _, err := m.Kube.UpdateSecret(ctx, s); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return nil, nil, err
		}
		m.Log.Info("renewed the CA", "secret", m.Secret, "old_not_after", ca.Cert.NotAfter, "not_after", next.Cert.NotAfter)
		return next, bundle, nil
	}
	return nil, nil, fmt.Errorf("%w: the secret kept changing", ErrConflict)
}

// publish sets the webhook configuration's caBundle to bundle where it
// differs.
func (m *SelfManaged) publish(ctx context.Context, bundle []byte) error {
	for attempt := 0; attempt < 3; attempt++ {
		c, err := m.Kube.GetWebhookConfiguration(ctx, m.WebhookConfig)
		if err != nil {
			return err
		}
		if len(c.Webhooks) == 0 {
			return errors.New("it has no webhooks")
		}
		stale := 0
		for _, w := range c.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, bundle) {
				stale++
			}
		}
		if stale == 0 {
			return nil
		}
		if err := m.Kube.SetCABundle(ctx, c, bundle); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		m.Log.Info("set caBundle", "webhook_configuration", m.WebhookConfig, "webhooks", stale)
		return nil
	}
	return fmt.Errorf("%w: the configuration kept changing", ErrConflict)
}

// Run syncs every interval after the first round (Sync, done by the
// caller) until ctx is done; a failed round is retried sooner, and the
// last good certificate is served meanwhile.
func (m *SelfManaged) Run(ctx context.Context, interval time.Duration) {
	wait := interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = interval
		if err := m.Sync(ctx); err != nil {
			m.Log.Warn("certificate sync failed", "err", err)
			wait = min(interval, 10*time.Second)
		}
	}
}
