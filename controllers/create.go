package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// createSigned creates a Promotion that Baton itself requests (autoPromote,
// a merge to main, an automatic rollback), signed with the admission marker
// the webhook would have stamped. Its name is deterministic, so a trigger
// that runs twice finds the first one: created reports whether this call
// made it. A Promotion already under that name is returned as read, and
// proves nothing: someone else may have created that name first. The
// automatic rollback checks it (promote.Decide adopts only one it can prove
// Baton's own, and otherwise creates another name).
func createSigned(ctx context.Context, c client.Client, reader client.Reader, admission Admission, promo *batonv1alpha1.Promotion) (existing *batonv1alpha1.Promotion, created bool, err error) {
	found := &batonv1alpha1.Promotion{}
	err = reader.Get(ctx, client.ObjectKeyFromObject(promo), found)
	if err == nil {
		return found, false, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("look for Promotion %s: %w", promo.Name, err)
	}
	if err := admission.Sign(ctx, promo); err != nil {
		return nil, false, fmt.Errorf("sign Promotion %s: %w", promo.Name, err)
	}
	if err := c.Create(ctx, promo); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("create Promotion %s: %w", promo.Name, err)
		}
		if err := reader.Get(ctx, client.ObjectKeyFromObject(promo), found); err != nil {
			return nil, false, fmt.Errorf("read Promotion %s: %w", promo.Name, err)
		}
		return found, false, nil
	}
	return promo, true, nil
}
