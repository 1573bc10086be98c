package controllers

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// SelfUsername asks the API server who the manager is (a
// SelfSubjectReview): the admission webhook records that user as the
// requester of the Promotions the manager creates, which is how the
// Promotion reconciler recognizes its own automatic rollbacks.
func SelfUsername(ctx context.Context, cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("build a client: %w", err)
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("ask the API server who the manager is: %w", err)
	}
	return review.Status.UserInfo.Username, nil
}
