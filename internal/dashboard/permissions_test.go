package dashboard

import (
	"context"
	"errors"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// TestPermissionCacheKeepsOnlyAnswers: a review that fails is asked again
// at the next read, so that a busy moment does not disable a button for
// the whole TTL; an answer is kept.
func TestPermissionCacheKeepsOnlyAnswers(t *testing.T) {
	calls, fail := 0, true
	c := interceptor.NewClient(fake.NewClientBuilder().Build(), interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			calls++
			if fail {
				return errors.New("context deadline exceeded")
			}
			obj.(*authorizationv1.SelfSubjectAccessReview).Status.Allowed = true
			return nil
		},
	})
	p := &permissionCache{client: c, ns: "web", ttl: time.Minute, answers: map[string]cached{}}
	ctx := context.Background()
	if p.can(ctx, "promote", "environments", "production") {
		t.Fatal("a failed review allows")
	}
	fail = false
	if !p.can(ctx, "promote", "environments", "production") {
		t.Fatal("the failed review was kept: the next read did not ask again")
	}
	if !p.can(ctx, "promote", "environments", "production") || calls != 2 {
		t.Errorf("an answer is kept for the TTL: %d reviews, want 2", calls)
	}
}
