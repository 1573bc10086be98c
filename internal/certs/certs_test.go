package certs

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

func TestNewRefusesIncompleteOptions(t *testing.T) {
	full := Options{Namespace: "baton-system", SecretName: "s", ServiceName: "svc", CertDir: "/certs"}
	for name, mutate := range map[string]func(*Options){
		"no namespace": func(o *Options) { o.Namespace = "" },
		"no secret":    func(o *Options) { o.SecretName = "" },
		"no service":   func(o *Options) { o.ServiceName = "" },
		"no cert dir":  func(o *Options) { o.CertDir = "" },
	} {
		o := full
		mutate(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
	r, err := New(full)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.rotator.DNSName; got != "svc.baton-system.svc" {
		t.Errorf("the certificate is issued for %q, want the name the API server dials", got)
	}
	if r.rotator.RequireLeaderElection {
		t.Error("rotation runs only on the leader, so followers would never serve the webhook")
	}
}

// TestWebhookServerWaitsForCertificate uses a real webhook server whose
// certificate directory is empty: started early, it would fail.
func TestWebhookServerWaitsForCertificate(t *testing.T) {
	r, err := New(Options{Namespace: "ns", SecretName: "s", ServiceName: "svc", CertDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := r.WebhookServer(webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: 0, CertDir: r.rotator.CertDir}))
	if err := r.Checker(nil); err == nil {
		t.Error("ready before the certificate exists")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Errorf("the server started without its certificate: %v", err)
	}

	close(r.ready)
	if err := r.Checker(nil); err != nil {
		t.Errorf("not ready once the certificate is: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := srv.Start(ctx2); err == nil {
		t.Error("once ready, Start did not run the wrapped server (which fails here: no tls.crt)")
	}
}
