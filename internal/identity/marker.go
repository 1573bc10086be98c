package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// markerVersion prefixes every marker, so that the signed content can change
// later without old markers being misread. v1 markers (namespace, name and
// spec only) no longer verify: they bound nothing an outsider could not
// reproduce, so a v1 marker harvested from the webhook stayed usable forever.
const markerVersion = "v2"

// The two kinds of marker. A create marker is written before the API server
// assigns the object's UID and creationTimestamp, so it binds the time it
// was issued and is valid only on a Promotion created within CreateWindow of
// that time. An update marker (an approval, a cancel) is written on a stored
// object and binds its UID, so it is worthless on any other object, even a
// re-created one of the same name.
const (
	markerKindCreate = "create"
	markerKindUpdate = "update"
)

// CreateWindow is how far apart a create marker's issue time and the
// Promotion's creationTimestamp may be. Admission and storage happen within
// milliseconds of each other; the window absorbs clock skew between the
// manager and the API server and the seconds both times are truncated to.
const CreateWindow = 30 * time.Second

// MinKeySize is the smallest HMAC key Sign and Verify accept, in bytes.
const MinKeySize = 32

// ErrNotAdmitted matches (errors.Is) every error Verify returns for a marker
// that does not admit the Promotion, as opposed to a missing or short key.
// The engine reports these as Stalled with reason NotAdmitted.
var ErrNotAdmitted = errors.New("not admitted by Baton's admission webhook")

// markerError is a reason a marker does not admit its Promotion.
type markerError string

func (e markerError) Error() string { return string(e) }

// Is makes every markerError match ErrNotAdmitted.
func (e markerError) Is(target error) bool { return target == ErrNotAdmitted }

// ErrMarkerMissing means the Promotion carries no admission marker: it was
// created while the admission webhook was bypassed.
var ErrMarkerMissing error = markerError("the Promotion has no " + batonv1alpha1.AdmissionMarkerAnnotation +
	" annotation: it was not admitted by Baton's admission webhook")

// ErrMarkerMismatch means the marker does not match the Promotion: its spec,
// identities included, or the marker itself was changed outside the webhook,
// or the marker was copied from another object.
var ErrMarkerMismatch error = markerError("the " + batonv1alpha1.AdmissionMarkerAnnotation +
	" annotation does not match the Promotion: its spec or the marker was changed outside Baton's admission webhook, or the marker was copied from another Promotion")

// ErrMarkerStale means a create marker was issued too long before or after
// the Promotion was created: it was replayed, copied onto a re-created
// Promotion, restored from a backup, or obtained from the webhook outside an
// API server's admission and used later.
var ErrMarkerStale error = markerError("the " + batonv1alpha1.AdmissionMarkerAnnotation +
	" annotation was not issued when this Promotion was created (more than " + CreateWindow.String() +
	" apart): it was replayed, restored from a backup, or obtained outside a real admission")

// ErrMarkerOutdated means the marker is of an earlier format (v1), which
// Baton no longer accepts.
var ErrMarkerOutdated error = markerError("the " + batonv1alpha1.AdmissionMarkerAnnotation +
	" annotation is a v1 marker from an earlier Baton, which bound neither the creation time nor the UID and is no longer accepted")

// marker is an admission marker, parsed.
type marker struct {
	kind     string
	issuedAt int64 // Unix seconds
	sum      []byte
}

func (m marker) String() string {
	return strings.Join([]string{markerVersion, m.kind, strconv.FormatInt(m.issuedAt, 10),
		base64.RawURLEncoding.EncodeToString(m.sum)}, ":")
}

func parseMarker(s string) (marker, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 0 && parts[0] == "v1" {
		return marker{}, ErrMarkerOutdated
	}
	if len(parts) != 4 || parts[0] != markerVersion || (parts[1] != markerKindCreate && parts[1] != markerKindUpdate) {
		return marker{}, ErrMarkerMismatch
	}
	issuedAt, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return marker{}, ErrMarkerMismatch
	}
	sum, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		return marker{}, ErrMarkerMismatch
	}
	return marker{kind: parts[1], issuedAt: issuedAt, sum: sum}, nil
}

// signedContent is what the marker covers. The spec carries both what the
// user wrote and what the webhook stamped, so neither can change alone; the
// kind, the issue time and the UID bind it to one admission of one object.
type signedContent struct {
	Kind      string    `json:"kind"`
	IssuedAt  int64     `json:"issuedAt"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
	// Annotations are Baton's own (the marker aside): the engine trusts
	// them, so an edit behind the webhook's back voids the marker.
	Annotations map[string]string           `json:"annotations"`
	Spec        batonv1alpha1.PromotionSpec `json:"spec"`
}

func mac(promo *batonv1alpha1.Promotion, kind string, issuedAt int64, key []byte) ([]byte, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("the admission key has %d bytes, want at least %d", len(key), MinKeySize)
	}
	if promo.Name == "" {
		return nil, errors.New("the Promotion has no name")
	}
	content := signedContent{Kind: kind, IssuedAt: issuedAt, Namespace: promo.Namespace, Name: promo.Name,
		Annotations: batonAnnotations(promo), Spec: promo.Spec}
	if kind == markerKindUpdate {
		content.UID = promo.UID
	}
	// encoding/json writes struct fields in declaration order and map keys
	// sorted, and the API
	// server round-trips every spec field unchanged (times at second
	// precision, which Admit already truncates to), so the encoding is
	// stable between signing and verifying.
	encoded, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encode the signed content: %w", err)
	}
	h := hmac.New(sha256.New, key)
	h.Write(encoded)
	return h.Sum(nil), nil
}

// Sign returns the admission marker for the Promotion as it stands, issued
// at now. A Promotion without a UID is being created: it gets a create
// marker. One with a UID is stored: it gets an update marker bound to it.
func Sign(promo *batonv1alpha1.Promotion, key []byte, now time.Time) (string, error) {
	m := marker{kind: markerKindCreate, issuedAt: now.Unix()}
	if promo.UID != "" {
		m.kind = markerKindUpdate
	}
	sum, err := mac(promo, m.kind, m.issuedAt, key)
	if err != nil {
		return "", err
	}
	m.sum = sum
	return m.String(), nil
}

// Verify checks the Promotion's admission marker against key. It returns nil
// only if the webhook stamped exactly this namespace, name and spec, and
// either did so within CreateWindow of the Promotion's creationTimestamp (a
// create marker) or on this very object, by UID (an update marker). The
// engine must ignore a Promotion for which Verify fails, and report it as
// Stalled with reason NotAdmitted; every such error matches ErrNotAdmitted.
func Verify(promo *batonv1alpha1.Promotion, key []byte) error {
	return verifyCreatedAt(promo, key, promo.CreationTimestamp.Time)
}

// verifyCreatedAt is Verify for a Promotion created at created: the
// webhook uses it on a CREATE, before the API server assigns the time.
func verifyCreatedAt(promo *batonv1alpha1.Promotion, key []byte, created time.Time) error {
	raw, ok := promo.Annotations[batonv1alpha1.AdmissionMarkerAnnotation]
	if !ok || raw == "" {
		return ErrMarkerMissing
	}
	m, err := parseMarker(raw)
	if err != nil {
		return err
	}
	if m.kind == markerKindUpdate && promo.UID == "" {
		return ErrMarkerMismatch
	}
	want, err := mac(promo, m.kind, m.issuedAt, key)
	if err != nil {
		return fmt.Errorf("verify the admission marker: %w", err)
	}
	if !hmac.Equal(m.sum, want) {
		return ErrMarkerMismatch
	}
	if m.kind == markerKindCreate && !withinWindow(time.Unix(m.issuedAt, 0), created) {
		return ErrMarkerStale
	}
	return nil
}

func withinWindow(issued, created time.Time) bool {
	if created.IsZero() {
		return false
	}
	d := created.Sub(issued)
	return d <= CreateWindow && d >= -CreateWindow
}
