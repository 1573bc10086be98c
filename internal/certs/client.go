package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"time"
)

// ClientAuth returns the webhook server's TLS option that authenticates its
// caller: a client certificate signed by a CA in caFile is required, and when
// names is not empty the certificate's Common Name or one of its DNS names
// must be one of them. The API server presents such a certificate when its
// admission configuration names a kubeconfig for the webhook's host:port
// (docs/install.md). Anyone else is refused during the TLS handshake, before
// an AdmissionReview is read: without it, whoever reaches the port gets a
// signed admission marker for any user it names.
func ClientAuth(caFile string, names []string) (func(*tls.Config), error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the webhook client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("the webhook client CA %s holds no PEM certificate", caFile)
	}
	return func(c *tls.Config) {
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
		if len(names) > 0 {
			c.VerifyConnection = func(cs tls.ConnectionState) error { return checkClientName(cs, names) }
		}
	}, nil
}

// checkClientName runs after the chain was verified against the client CA,
// so the leaf certificate is one the CA issued.
func checkClientName(cs tls.ConnectionState, names []string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	leaf := cs.PeerCertificates[0]
	if slices.Contains(names, leaf.Subject.CommonName) || slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return slices.Contains(names, n) }) {
		return nil
	}
	return fmt.Errorf("client certificate %q is not one of the allowed webhook callers %v", leaf.Subject.CommonName, names)
}

// KeyPair is a PEM-encoded certificate and its private key.
type KeyPair struct {
	Cert, Key []byte
}

// NewCA issues a self-signed CA that signs webhook client certificates.
func NewCA(commonName string, validFor time.Duration) (KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return issue(tmpl, nil, validFor)
}

// NewClientCert issues a client-authentication certificate for commonName,
// signed by ca: what the API server presents to the webhook.
func NewClientCert(ca KeyPair, commonName string, validFor time.Duration) (KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return issue(tmpl, &ca, validFor)
}

// NewServerCert issues a server-authentication certificate for hosts (DNS
// names or IP addresses), signed by ca: for a test's TLS server.
func NewServerCert(ca KeyPair, hosts []string, validFor time.Duration) (KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return issue(tmpl, &ca, validFor)
}

// issue signs tmpl with parent, or self-signs it when parent is nil.
func issue(tmpl *x509.Certificate, parent *KeyPair, validFor time.Duration) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return KeyPair{}, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(validFor)
	signer, signerKey := tmpl, any(key)
	if parent != nil {
		pair, err := tls.X509KeyPair(parent.Cert, parent.Key)
		if err != nil {
			return KeyPair{}, fmt.Errorf("load the CA: %w", err)
		}
		if signer, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return KeyPair{}, fmt.Errorf("parse the CA: %w", err)
		}
		signerKey = pair.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return KeyPair{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}
