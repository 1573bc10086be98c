package identity

import (
	"context"
	"fmt"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
)

// Self is the user Baton's manager authenticates as (its ServiceAccount in a
// cluster, whatever its kubeconfig names elsewhere), found once with a
// SelfSubjectReview: the one requester the webhook lets change the metadata
// the engine trusts (CheckMetadata).
type Self struct {
	Client authenticationv1client.SelfSubjectReviewInterface

	mu       sync.Mutex
	username string
}

// NewSelf returns the Self of the manager that talks to c's API server.
func NewSelf(c cluster.Cluster) (*Self, error) {
	authn, err := authenticationv1client.NewForConfigAndClient(c.GetConfig(), c.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("build the SelfSubjectReview client: %w", err)
	}
	return &Self{Client: authn.SelfSubjectReviews()}, nil
}

// Is reports whether user is the manager.
func (s *Self) Is(ctx context.Context, user authenticationv1.UserInfo) (bool, error) {
	name, err := s.Username(ctx)
	if err != nil {
		return false, err
	}
	return user.Username == name, nil
}

// Username is the manager's username, asked once and then remembered.
func (s *Self) Username(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.username != "" {
		return s.username, nil
	}
	review, err := s.Client.Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("find the manager's own user (SelfSubjectReview): %w", err)
	}
	if review.Status.UserInfo.Username == "" {
		return "", fmt.Errorf("the SelfSubjectReview names no user")
	}
	s.username = review.Status.UserInfo.Username
	return s.username, nil
}
