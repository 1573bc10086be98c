package identity

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// KeySecretDataKey is the key in the Secret's data that holds the HMAC key.
const KeySecretDataKey = "hmac-key"

// keyCacheTTL bounds how long a replica keeps using a key after the Secret
// was replaced, so that replicas converge on a rotated key.
const keyCacheTTL = 30 * time.Second

// KeyStore reads, and at start-up creates, the Secret holding the admission
// HMAC key. Reads go to the API server directly (not through the cache), so
// the manager never caches Secrets.
type KeyStore struct {
	// Reader reads the Secret; use the manager's APIReader.
	Reader client.Reader
	// Writer creates the Secret when it is missing.
	Writer client.Writer
	// Secret is the namespace and name of the key Secret.
	Secret types.NamespacedName

	mu       sync.Mutex
	key      []byte
	loadedAt time.Time
}

// Key returns the HMAC key. It never creates the Secret: EnsureKey does that
// once at start-up, so an admission request has no side effects.
func (s *KeyStore) Key(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil && time.Since(s.loadedAt) < keyCacheTTL {
		return s.key, nil
	}
	key, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	s.key, s.loadedAt = key, time.Now()
	return key, nil
}

// Verify checks a Promotion's admission marker with the current key.
func (s *KeyStore) Verify(ctx context.Context, promo *batonv1alpha1.Promotion) error {
	key, err := s.Key(ctx)
	if err != nil {
		return err
	}
	return Verify(promo, key)
}

// Sign writes the admission marker onto a Promotion that Baton itself
// creates (an automatic rollback or promotion). Where the admission webhook
// is installed it stamps and signs the object again on its way in.
func (s *KeyStore) Sign(ctx context.Context, promo *batonv1alpha1.Promotion) error {
	key, err := s.Key(ctx)
	if err != nil {
		return err
	}
	return SignInto(promo, key)
}

// SignInto sets the Promotion's admission marker annotation, signed with key
// and issued now: a create marker for a Promotion about to be created, an
// update marker for a stored one.
func SignInto(promo *batonv1alpha1.Promotion, key []byte) error {
	marker, err := Sign(promo, key, time.Now())
	if err != nil {
		return err
	}
	if promo.Annotations == nil {
		promo.Annotations = map[string]string{}
	}
	promo.Annotations[batonv1alpha1.AdmissionMarkerAnnotation] = marker
	return nil
}

func (s *KeyStore) read(ctx context.Context) ([]byte, error) {
	secret := &corev1.Secret{}
	if err := s.Reader.Get(ctx, s.Secret, secret); err != nil {
		return nil, fmt.Errorf("read the admission key Secret %s: %w", s.Secret, err)
	}
	key := secret.Data[KeySecretDataKey]
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("the admission key Secret %s has no %q of at least %d bytes", s.Secret, KeySecretDataKey, MinKeySize)
	}
	return key, nil
}

// EnsureKey creates the key Secret with a random key when it is missing. Two
// replicas may race: the loser gets AlreadyExists and reads the winner's key.
func (s *KeyStore) EnsureKey(ctx context.Context) error {
	if _, err := s.read(ctx); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate the admission key: %w", err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.Secret.Namespace,
			Name:      s.Secret.Name,
			Labels:    map[string]string{"app.kubernetes.io/name": "baton", "app.kubernetes.io/component": "admission-key"},
		},
		Type:      corev1.SecretTypeOpaque,
		Immutable: new(true),
		Data:      map[string][]byte{KeySecretDataKey: key},
	}
	err := s.Writer.Create(ctx, secret)
	switch {
	case err == nil:
		logf.FromContext(ctx).Info("created the admission key Secret", "secret", s.Secret)
	case apierrors.IsAlreadyExists(err):
		// Another replica won the race; its key is the one to use.
	default:
		return fmt.Errorf("create the admission key Secret %s: %w", s.Secret, err)
	}
	_, err = s.read(ctx)
	return err
}

// Start makes KeyStore a manager Runnable that ensures the key at start-up.
func (s *KeyStore) Start(ctx context.Context) error {
	if err := s.EnsureKey(ctx); err != nil {
		return fmt.Errorf("ensure the admission key: %w", err)
	}
	<-ctx.Done()
	return nil
}

// NeedLeaderElection is false: every replica serves the webhook and needs
// the key, and creation is race-safe.
func (s *KeyStore) NeedLeaderElection() bool { return false }

// serviceAccountNamespaceFile is where a pod finds its own namespace.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// ManagerNamespace returns the namespace of the key Secret: configured if set,
// else POD_NAMESPACE, else the pod's service account namespace.
func ManagerNamespace(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
	data, err := os.ReadFile(serviceAccountNamespaceFile)
	if err != nil {
		return "", fmt.Errorf("find the manager's namespace (set --admission-key-namespace or POD_NAMESPACE): %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
