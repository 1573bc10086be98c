package identity

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
)

// AuthorizationTTL is how long CachedAuthorizer keeps an answer: a
// revoked role stops working within it. Short on purpose: it only has to
// fold a burst (50 creates by one user at once) into one review.
const AuthorizationTTL = 2 * time.Second

// CachedAuthorizer remembers each answer of Next for TTL, keyed by
// everything the answer depends on: the user's name, UID, groups and extra,
// the namespace, the verb and the Environment. Identical questions asked at
// the same time share one review. Errors are never remembered.
type CachedAuthorizer struct {
	Next Authorizer
	TTL  time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	answers  map[string]cachedAnswer
	inFlight singleflight.Group
}

type cachedAnswer struct {
	allowed bool
	reason  string
	expires time.Time
}

// Allowed implements Authorizer.
func (c *CachedAuthorizer) Allowed(ctx context.Context, user authenticationv1.UserInfo, namespace, verb, environment string) (bool, string, error) {
	key := authorizationKey(user, namespace, verb, environment)
	now := c.now()
	c.mu.Lock()
	a, ok := c.answers[key]
	c.mu.Unlock()
	if ok && now.Before(a.expires) {
		return a.allowed, a.reason, nil
	}
	v, err, _ := c.inFlight.Do(key, func() (any, error) {
		allowed, reason, err := c.Next.Allowed(ctx, user, namespace, verb, environment)
		if err != nil {
			return nil, err
		}
		a := cachedAnswer{allowed: allowed, reason: reason, expires: c.now().Add(c.TTL)}
		c.remember(key, a)
		return a, nil
	})
	if err != nil {
		return false, "", err
	}
	a = v.(cachedAnswer)
	return a.allowed, a.reason, nil
}

func (c *CachedAuthorizer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// remember stores an answer and drops the expired ones, so the map holds
// at most the questions of the last TTL.
func (c *CachedAuthorizer) remember(key string, a cachedAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answers == nil {
		c.answers = map[string]cachedAnswer{}
	}
	now := c.now()
	maps.DeleteFunc(c.answers, func(_ string, old cachedAnswer) bool { return !now.Before(old.expires) })
	c.answers[key] = a
}

// authorizationKey is a question in one string; each part is quoted, so
// that no two different questions share a key.
func authorizationKey(user authenticationv1.UserInfo, namespace, verb, environment string) string {
	var b strings.Builder
	part := func(s string) {
		b.WriteString(strings.ReplaceAll(s, `\`, `\\`))
		b.WriteString(`\|`)
	}
	part(user.Username)
	part(user.UID)
	groups := slices.Sorted(slices.Values(user.Groups))
	for _, g := range groups {
		part("g:" + g)
	}
	for _, k := range slices.Sorted(maps.Keys(user.Extra)) {
		vals := slices.Sorted(slices.Values(user.Extra[k]))
		part("x:" + k + "=" + strings.Join(vals, "\x00"))
	}
	part(namespace)
	part(verb)
	part(environment)
	return b.String()
}
