package identity

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
)

type countingAuthorizer struct {
	calls   atomic.Int32
	allowed bool
	err     error
	gate    chan struct{}
}

func (a *countingAuthorizer) Allowed(context.Context, authenticationv1.UserInfo, string, string, string) (bool, string, error) {
	a.calls.Add(1)
	if a.gate != nil {
		<-a.gate
	}
	return a.allowed, "rbac says so", a.err
}

func TestCachedAuthorizer(t *testing.T) {
	alice := authenticationv1.UserInfo{Username: "alice", UID: "1", Groups: []string{"b", "a"}, Extra: map[string]authenticationv1.ExtraValue{"scope": {"x"}}}
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	t.Run("one review per question within the TTL, another after", func(t *testing.T) {
		next := &countingAuthorizer{allowed: true}
		c := &CachedAuthorizer{Next: next, TTL: AuthorizationTTL, Now: clock}
		for range 3 {
			if ok, _, err := c.Allowed(ctx, alice, "web", "promote", "production"); !ok || err != nil {
				t.Fatalf("Allowed = %v, %v", ok, err)
			}
		}
		if n := next.calls.Load(); n != 1 {
			t.Fatalf("%d reviews, want 1", n)
		}
		now = now.Add(AuthorizationTTL)
		defer func() { now = now.Add(-AuthorizationTTL) }()
		_, _, _ = c.Allowed(ctx, alice, "web", "promote", "production")
		if n := next.calls.Load(); n != 2 {
			t.Fatalf("%d reviews after the TTL, want 2", n)
		}
	})

	t.Run("every part of the question is in the key", func(t *testing.T) {
		next := &countingAuthorizer{allowed: true}
		c := &CachedAuthorizer{Next: next, TTL: AuthorizationTTL, Now: clock}
		variants := []func(u *authenticationv1.UserInfo) (ns, verb, env string){
			func(*authenticationv1.UserInfo) (string, string, string) { return "web", "promote", "production" },
			func(u *authenticationv1.UserInfo) (string, string, string) {
				u.Username = "mallory"
				return "web", "promote", "production"
			},
			func(u *authenticationv1.UserInfo) (string, string, string) {
				u.UID = "2"
				return "web", "promote", "production"
			},
			func(u *authenticationv1.UserInfo) (string, string, string) {
				u.Groups = []string{"a"}
				return "web", "promote", "production"
			},
			func(u *authenticationv1.UserInfo) (string, string, string) {
				u.Extra = map[string]authenticationv1.ExtraValue{"scope": {"y"}}
				return "web", "promote", "production"
			},
			func(*authenticationv1.UserInfo) (string, string, string) { return "shop", "promote", "production" },
			func(*authenticationv1.UserInfo) (string, string, string) { return "web", "approve", "production" },
			func(*authenticationv1.UserInfo) (string, string, string) { return "web", "promote", "staging" },
			// A separator inside a name cannot make two questions one.
			func(u *authenticationv1.UserInfo) (string, string, string) {
				u.Username = `alice\|1`
				u.UID = ""
				return "web", "promote", "production"
			},
		}
		for _, v := range variants {
			u := alice
			u.Groups = append([]string(nil), alice.Groups...)
			ns, verb, env := v(&u)
			_, _, _ = c.Allowed(ctx, u, ns, verb, env)
		}
		if n := int(next.calls.Load()); n != len(variants) {
			t.Fatalf("%d reviews for %d different questions", n, len(variants))
		}
		// The same groups in another order are the same question.
		u := alice
		u.Groups = []string{"a", "b"}
		_, _, _ = c.Allowed(ctx, u, "web", "promote", "production")
		if n := int(next.calls.Load()); n != len(variants) {
			t.Fatalf("groups in another order asked again")
		}
	})

	t.Run("errors are not remembered", func(t *testing.T) {
		next := &countingAuthorizer{err: errors.New("the API server is down")}
		c := &CachedAuthorizer{Next: next, TTL: AuthorizationTTL, Now: clock}
		for range 2 {
			if _, _, err := c.Allowed(ctx, alice, "web", "promote", "production"); err == nil {
				t.Fatal("want the error")
			}
		}
		if n := next.calls.Load(); n != 2 {
			t.Fatalf("%d reviews, want 2", n)
		}
	})

	t.Run("a burst shares one review", func(t *testing.T) {
		next := &countingAuthorizer{allowed: false, gate: make(chan struct{})}
		c := &CachedAuthorizer{Next: next, TTL: AuthorizationTTL, Now: clock}
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ok, reason, _ := c.Allowed(ctx, alice, "web", "approve", "production"); ok || reason == "" {
					t.Errorf("Allowed = %v, %q: want the denial and its reason", ok, reason)
				}
			}()
		}
		for next.calls.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // let the others join the one in flight
		close(next.gate)
		wg.Wait()
		if n := next.calls.Load(); n > 2 {
			t.Fatalf("%d reviews for one burst", n)
		}
	})
}
