package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// markerVersion prefixes every marker, so that the signed content can change
// later without old markers being misread.
const markerVersion = "v1"

// MinKeySize is the smallest HMAC key Sign and Verify accept, in bytes.
const MinKeySize = 32

// ErrMarkerMissing means the Promotion carries no admission marker: it was
// created while the admission webhook was bypassed.
var ErrMarkerMissing = errors.New("the Promotion has no " + batonv1alpha1.AdmissionMarkerAnnotation +
	" annotation: it was not admitted by Baton's admission webhook")

// ErrMarkerMismatch means the marker does not match the Promotion: its spec,
// identities included, or the marker itself was changed outside the webhook.
var ErrMarkerMismatch = errors.New("the " + batonv1alpha1.AdmissionMarkerAnnotation +
	" annotation does not match the Promotion: its spec or the marker was changed outside Baton's admission webhook")

// signedContent is what the marker covers. The spec carries both what the
// user wrote and what the webhook stamped, so neither can change alone.
type signedContent struct {
	Namespace string                      `json:"namespace"`
	Name      string                      `json:"name"`
	Spec      batonv1alpha1.PromotionSpec `json:"spec"`
}

func mac(promo *batonv1alpha1.Promotion, key []byte) ([]byte, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("the admission key has %d bytes, want at least %d", len(key), MinKeySize)
	}
	if promo.Name == "" {
		return nil, errors.New("the Promotion has no name")
	}
	// encoding/json writes struct fields in declaration order, and the API
	// server round-trips every spec field unchanged (times at second
	// precision, which Admit already truncates to), so the encoding is
	// stable between signing and verifying.
	content, err := json.Marshal(signedContent{Namespace: promo.Namespace, Name: promo.Name, Spec: promo.Spec})
	if err != nil {
		return nil, fmt.Errorf("encode the signed content: %w", err)
	}
	h := hmac.New(sha256.New, key)
	h.Write(content)
	return h.Sum(nil), nil
}

// Sign returns the admission marker for the Promotion as it stands.
func Sign(promo *batonv1alpha1.Promotion, key []byte) (string, error) {
	sum, err := mac(promo, key)
	if err != nil {
		return "", err
	}
	return markerVersion + ":" + base64.RawURLEncoding.EncodeToString(sum), nil
}

// Verify checks the Promotion's admission marker against key. It returns nil
// only if the webhook stamped exactly this namespace, name and spec. The
// engine must ignore a Promotion for which Verify fails, and report it as
// Stalled with reason NotAdmitted.
func Verify(promo *batonv1alpha1.Promotion, key []byte) error {
	marker, ok := promo.Annotations[batonv1alpha1.AdmissionMarkerAnnotation]
	if !ok || marker == "" {
		return ErrMarkerMissing
	}
	version, encoded, found := strings.Cut(marker, ":")
	if !found || version != markerVersion {
		return ErrMarkerMismatch
	}
	got, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return ErrMarkerMismatch
	}
	want, err := mac(promo, key)
	if err != nil {
		return fmt.Errorf("verify the admission marker: %w", err)
	}
	if !hmac.Equal(got, want) {
		return ErrMarkerMismatch
	}
	return nil
}
