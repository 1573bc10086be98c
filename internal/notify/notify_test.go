package notify

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

const (
	secretURL = "https://hooks.example.com/services/T000/B000/very-secret-path"
	goodKey   = "0123456789abcdef0123456789abcdef"
)

func secret(typ corev1.SecretType, labelled bool, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook"}, Type: typ, Data: map[string][]byte{}}
	if labelled {
		s.Labels = map[string]string{batonv1alpha1.CredentialsLabel: "true"}
	}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestBadSecret(t *testing.T) {
	webhook, slack := batonv1alpha1.NotificationWebhook, batonv1alpha1.NotificationSlack
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		format batonv1alpha1.NotificationFormat
		says   string // "" means accepted
	}{
		{"a signed webhook", secret(corev1.SecretTypeOpaque, true, map[string]string{URLKey: secretURL, SigningKeyKey: goodKey}), webhook, ""},
		{"Slack needs no signing key", secret(corev1.SecretTypeOpaque, true, map[string]string{URLKey: secretURL}), slack, ""},
		{"plain http to the loopback, for development", secret(corev1.SecretTypeOpaque, true, map[string]string{URLKey: "http://127.0.0.1:8080/hook"}), slack, ""},
		{"unlabelled Opaque Secret", secret(corev1.SecretTypeOpaque, false, map[string]string{URLKey: secretURL, SigningKeyKey: goodKey}), webhook, "labelled promotion.baton.dev/credentials=true"},
		{"ServiceAccount token Secret", secret(corev1.SecretTypeServiceAccountToken, true, map[string]string{URLKey: secretURL, SigningKeyKey: goodKey}), webhook, `of type "kubernetes.io/service-account-token"`},
		{"no url", secret(corev1.SecretTypeOpaque, true, map[string]string{SigningKeyKey: goodKey}), webhook, `no key "url"`},
		{"not a URL", secret(corev1.SecretTypeOpaque, true, map[string]string{URLKey: "hooks.example.com/x"}), slack, `key "url" of Secret hook is not an http(s) URL`},
		{"another scheme", secret(corev1.SecretTypeOpaque, true, map[string]string{URLKey: "ftp://hooks.example.com/x"}), slack, "is not an http(s) URL"},
		{"plain http to another host", secret(corev1.SecretTypeOpaque, true, map[string]string{URLKey: "http://hooks.example.com/services/very-secret-path"}), slack, "plain http:// to hooks.example.com; notifications need https://"},
		{"no signing key for a webhook", secret(corev1.SecretTypeOpaque, true, map[string]string{URLKey: secretURL}), webhook, `needs the key "signingKey" of at least 32 bytes`},
		{"a short signing key", secret(corev1.SecretTypeOpaque, true, map[string]string{URLKey: secretURL, SigningKeyKey: "short-key"}), webhook, "it has 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkSecret(tc.secret, tc.format)
			if tc.says == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.HasPrefix(err.Error(), "spec.secretRef: ") {
				t.Fatalf("error %v; want it to start with spec.secretRef and say %q", err, tc.says)
			}
			for _, secretValue := range []string{"very-secret-path", "short-key", goodKey} {
				if strings.Contains(err.Error(), secretValue) {
					t.Fatalf("the error shows a secret value: %v", err)
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	key := []byte(goodKey)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"phase":"Succeeded"}`)
	ts := "1800000000"
	sig := Sign(key, now, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q is not sha256=<64 hex digits>", sig)
	}
	for _, tc := range []struct {
		name, ts, sig string
		body          []byte
		at            time.Time
		says          string
	}{
		{"the delivery as sent", ts, sig, body, now.Add(time.Minute), ""},
		{"a changed body", ts, sig, []byte(`{"phase":"Failed"}`), now, "does not match"},
		{"another key", ts, Sign([]byte("another key of thirty-two bytes!"), now, body), body, now, "does not match"},
		{"a replay an hour later", ts, sig, body, now.Add(time.Hour), "a replay?"},
		{"a timestamp moved to now", "1800003600", sig, body, now.Add(time.Hour), "does not match"},
		{"no timestamp", "", sig, body, now, "is not a Unix time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(key, tc.ts, tc.sig, tc.body, tc.at, 5*time.Minute)
			if (tc.says == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.says)) {
				t.Fatalf("Verify = %v; want %q", err, tc.says)
			}
		})
	}
}
