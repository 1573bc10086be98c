package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/baton-dev/baton/internal/certs"
)

// The dev cluster's PKI lives in <dir>/pki and is generated once: restarting
// the cluster keeps every kubeconfig and the webhook's caBundle valid.
//
//	ca.crt, ca.key             the CA that signs both serving certificates
//	apiserver.crt, .key        kube-apiserver's serving certificate (127.0.0.1)
//	sa.key, sa.pub             the service-account signing key pair
//	webhook-client-ca.crt, .key  the CA the manager's webhook trusts for its callers
//	webhook-client.crt, .key   the client certificate kube-apiserver presents to the webhook
//	admission/                 kube-apiserver's admission configuration that presents it
//	<dir>/webhook-certs/tls.*  the manager's webhook serving certificate (127.0.0.1)
type pki struct{ dir, webhookDir string }

// webhookClientName is the Common Name of kube-apiserver's client
// certificate, the one caller the manager's webhook accepts
// (--webhook-client-names).
const webhookClientName = "kube-apiserver-webhook-client"

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// ensure generates whatever is missing. An existing CA is reused, so
// certificates that are still present stay valid.
func (p pki) ensure() error {
	for _, d := range []string{p.dir, p.webhookDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if !exists(p.path("ca.crt")) || !exists(p.path("ca.key")) {
		if err := p.newCA(); err != nil {
			return fmt.Errorf("generate the CA: %w", err)
		}
		// A new CA invalidates every certificate signed by the old one.
		for _, f := range []string{p.path("apiserver.crt"), filepath.Join(p.webhookDir, "tls.crt")} {
			_ = os.Remove(f)
		}
	}
	ca, caKey, err := p.loadCA()
	if err != nil {
		return err
	}
	serving := []struct{ crt, key, cn string }{
		{p.path("apiserver.crt"), p.path("apiserver.key"), "kube-apiserver"},
		{filepath.Join(p.webhookDir, "tls.crt"), filepath.Join(p.webhookDir, "tls.key"), "baton-webhook"},
	}
	for _, s := range serving {
		if exists(s.crt) && exists(s.key) {
			continue
		}
		if err := newServingCert(ca, caKey, s.cn, s.crt, s.key); err != nil {
			return fmt.Errorf("generate %s: %w", s.crt, err)
		}
	}
	if err := p.ensureWebhookClient(); err != nil {
		return fmt.Errorf("generate the webhook client certificate: %w", err)
	}
	if !exists(p.path("sa.key")) || !exists(p.path("sa.pub")) {
		if err := p.newServiceAccountKeys(); err != nil {
			return fmt.Errorf("generate the service-account keys: %w", err)
		}
	}
	return nil
}

func (p pki) newCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "baton-dev-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	return writeCertKey(p.path("ca.crt"), p.path("ca.key"), der, key)
}

func (p pki) loadCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	crtPEM, err := os.ReadFile(p.path("ca.crt"))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(p.path("ca.key"))
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(crtPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("ca.crt or ca.key is not PEM; delete the pki directory to regenerate it")
	}
	crt, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return crt, key, nil
}

func newServingCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn, crtPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(serviceIP)},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writeCertKey(crtPath, keyPath, der, key)
}

func (p pki) newServiceAccountKeys() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.path("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(p.path("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

func writeCertKey(crtPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n
}

// ensureWebhookClient issues, once, the CA the webhook trusts for callers
// and kube-apiserver's client certificate from it (internal/certs).
func (p pki) ensureWebhookClient() error {
	if exists(p.path("webhook-client.crt")) && exists(p.path("webhook-client.key")) && exists(p.path("webhook-client-ca.crt")) {
		return nil
	}
	ca, err := certs.NewCA("baton-dev-webhook-client-ca", 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	client, err := certs.NewClientCert(ca, webhookClientName, 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"webhook-client-ca.crt": ca.Cert, "webhook-client-ca.key": ca.Key,
		"webhook-client.crt": client.Cert, "webhook-client.key": client.Key,
	} {
		if err := os.WriteFile(p.path(name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// webhookClient reads kube-apiserver's client certificate for the webhook.
func (p pki) webhookClient() (certs.KeyPair, error) {
	crt, err := os.ReadFile(p.path("webhook-client.crt"))
	if err != nil {
		return certs.KeyPair{}, err
	}
	key, err := os.ReadFile(p.path("webhook-client.key"))
	return certs.KeyPair{Cert: crt, Key: key}, err
}
