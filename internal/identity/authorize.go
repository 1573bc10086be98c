package identity

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Authorizer decides whether a user may use a custom verb on an Environment.
type Authorizer interface {
	// Allowed reports whether user may do verb on the Environment, and the
	// authorizer's reason when it says no.
	Allowed(ctx context.Context, user authenticationv1.UserInfo, namespace, verb, environment string) (bool, string, error)
}

// SubjectAccessReviewer asks the API server's authorizers (RBAC) with a
// SubjectAccessReview.
type SubjectAccessReviewer struct {
	Client authorizationv1client.SubjectAccessReviewInterface
}

// Allowed implements Authorizer.
func (s SubjectAccessReviewer) Allowed(ctx context.Context, user authenticationv1.UserInfo, namespace, verb, environment string) (bool, string, error) {
	return s.review(ctx, user, &authorizationv1.ResourceAttributes{
		Namespace: namespace, Verb: verb, Group: batonv1alpha1.GroupVersion.Group, Resource: "environments", Name: environment,
	})
}

// MayCreate reports whether user may create resource (of group) in
// namespace, and the authorizer's reason when it says no.
func (s SubjectAccessReviewer) MayCreate(ctx context.Context, user authenticationv1.UserInfo, namespace, group, resource string) (bool, string, error) {
	return s.review(ctx, user, &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "create", Group: group, Resource: resource})
}

func (s SubjectAccessReviewer) review(ctx context.Context, user authenticationv1.UserInfo, attrs *authorizationv1.ResourceAttributes) (bool, string, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	review := &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra, ResourceAttributes: attrs,
		},
	}
	out, err := s.Client.Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("SubjectAccessReview for %s on %s/%s: %w", attrs.Verb, attrs.Resource, attrs.Name, err)
	}
	return out.Status.Allowed && !out.Status.Denied, out.Status.Reason, nil
}
