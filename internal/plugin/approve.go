package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

// approvePatch is the documented approval (docs/identity.md): it works
// whether or not spec.approvals exists yet, and the webhook turns the empty
// entry into the stored approvals plus this user's.
const approvePatch = `[{"op":"add","path":"/spec/approvals","value":[{}]}]`

// cancelPatch sets spec.cancel; the webhook records who canceled.
const cancelPatch = `{"spec":{"cancel":true}}`

func newApproveCommand(o *Options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "approve PROMOTION|ENV",
		Short: "Approve a Promotion, by its name or by its Environment's",
		Long: `Approve a Promotion. The admission webhook records you, the time and the
Promotion's resolved image; you need the approve verb on its Environment, and
you cannot approve a Promotion you requested unless the Environment allows it.

Given an Environment, approve the one Promotion into it that is
WaitingForApproval; when several are, they are listed and you name one.`,
		Example: `  # Approve a Promotion by name
  kubectl promote approve production-20261126-101500-k3x9

  # Approve the Promotion waiting for approval in production
  kubectl promote approve production`,
		Args: exactArgs("PROMOTION|ENV"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return o.approve(cmd.Context(), args[0], output)
		},
	}
	outputFlag(cmd.Flags(), &output)
	return cmd
}

func newCancelCommand(o *Options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "cancel PROMOTION",
		Short: "Cancel a Promotion that has not changed its Environment yet",
		Long: `Set spec.cancel on a Promotion. Baton ends it as Canceled if it has not
started Promoting; once the target has changed, use 'kubectl promote undo'.
Canceling needs the promote verb on the Environment (rollback for a rollback).`,
		Example: `  kubectl promote cancel production-20261126-101500-k3x9`,
		Args:    exactArgs("PROMOTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return o.cancel(cmd.Context(), args[0], output)
		},
	}
	outputFlag(cmd.Flags(), &output)
	return cmd
}

func (o *Options) approve(ctx context.Context, name, output string) error {
	c, ns, err := o.connect()
	if err != nil {
		return err
	}
	promo, err := ApprovePromotion(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if output != "" {
		return o.printObject(promo, output)
	}
	by := "you"
	if n := len(promo.Spec.Approvals); n > 0 {
		by = promo.Spec.Approvals[n-1].Username
	}
	fmt.Fprintf(o.Out, "%s approved by %s for %s\n", promo.Name, by, promo.Status.Image)
	envObj := &batonv1alpha1.Environment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: promo.Spec.Environment}, envObj); err == nil {
		if ok, have, need, _ := identity.ApprovalState(envObj, promo); !ok {
			fmt.Fprintf(o.Out, "%d of %d required approval(s); %d more needed\n", have, need, need-have)
		}
	}
	return nil
}

// ApprovePromotion is what `kubectl promote approve` and the dashboard's
// Approve button do: it resolves name (a Promotion, or the one Promotion
// waiting for approval in the Environment of that name) and sends the
// documented approval patch as the client's user. It returns the Promotion
// as the webhook stored it.
func ApprovePromotion(ctx context.Context, c client.Client, ns, name string) (*batonv1alpha1.Promotion, error) {
	promo, err := findApprovable(ctx, c, ns, name)
	if err != nil {
		return nil, err
	}
	if promo.Status.Phase.IsTerminal() {
		return nil, failedErrorf("Promotion %s already ended %s; there is nothing to approve. See `kubectl promote status %s`", promo.Name, promo.Status.Phase, promo.Spec.Environment)
	}
	env := promo.Spec.Environment
	if err := c.Patch(ctx, promo, client.RawPatch(types.JSONPatchType, []byte(approvePatch))); err != nil {
		err = denied(err, fmt.Sprintf("Approving needs patch on promotions and the %q verb on environments/%s; check with `kubectl auth can-i %s environments/%s -n %s`",
			identity.VerbApprove, env, identity.VerbApprove, env, ns))
		return nil, fmt.Errorf("approve Promotion %s: %w", promo.Name, err)
	}
	return promo, nil
}

// findApprovable resolves PROMOTION|ENV: a Promotion of that name, or else
// the single Promotion waiting for approval in the Environment of that name.
func findApprovable(ctx context.Context, c client.Client, ns, name string) (*batonv1alpha1.Promotion, error) {
	promo := &batonv1alpha1.Promotion{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, promo)
	if err == nil {
		return promo, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, denied(fmt.Errorf("read Promotion %s: %w", name, err), readHint("promotions", ns))
	}
	env := &batonv1alpha1.Environment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, env); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("there is no Promotion nor Environment named %q in namespace %s; list them with `kubectl get promotions,environments -n %s`", name, ns, ns)
		}
		return nil, denied(fmt.Errorf("read Environment %s: %w", name, err), readHint("environments", ns))
	}
	promos, err := ListPromotions(ctx, c, ns, name)
	if err != nil {
		return nil, err
	}
	var waiting, pending []batonv1alpha1.Promotion
	for _, p := range promos {
		switch p.Status.Phase {
		case batonv1alpha1.PromotionWaitingForApproval:
			waiting = append(waiting, p)
		case batonv1alpha1.PromotionPending, "":
			pending = append(pending, p)
		}
	}
	switch {
	case len(waiting) == 1:
		return &waiting[0], nil
	case len(waiting) > 1:
		var b strings.Builder
		for _, p := range waiting {
			fmt.Fprintf(&b, "\n  %s  %s  requested by %s", p.Name, orDash(p.Status.Image), requester(&p))
		}
		return nil, usageErrorf("%d Promotions into Environment %q are waiting for approval; approve one by name:%s", len(waiting), name, b.String())
	case len(pending) > 0:
		return nil, fmt.Errorf("no Promotion into Environment %q is waiting for approval yet; %s is still Pending (its image is not resolved). Retry later, or see `kubectl promote status %s`", name, pending[0].Name, name)
	}
	return nil, fmt.Errorf("no Promotion into Environment %q is waiting for approval; see `kubectl promote status %s`", name, name)
}

func (o *Options) cancel(ctx context.Context, name, output string) error {
	c, ns, err := o.connect()
	if err != nil {
		return err
	}
	promo, err := CancelPromotion(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if output != "" {
		return o.printObject(promo, output)
	}
	by := "someone"
	if promo.Spec.CanceledBy != nil {
		by = promo.Spec.CanceledBy.Username
	}
	fmt.Fprintf(o.Out, "%s cancel requested by %s\n", promo.Name, by)
	if CancelTooLate(promo) {
		fmt.Fprintf(o.ErrOut, "Warning: %s is %s: the target has already changed, so Baton will refuse the cancel. To go back, run `kubectl promote undo %s`.\n",
			promo.Name, promo.Status.Phase, promo.Spec.Environment)
	}
	return nil
}

// CancelPromotion is what `kubectl promote cancel` and the dashboard's
// Cancel button do: it sets spec.cancel on Promotion name as the client's
// user, unless it is set already, and returns the Promotion as the webhook
// stored it (with spec.canceledBy).
func CancelPromotion(ctx context.Context, c client.Client, ns, name string) (*batonv1alpha1.Promotion, error) {
	promo := &batonv1alpha1.Promotion{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, promo); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("Promotion %q not found in namespace %s; list them with `kubectl get promotions -n %s`", name, ns, ns)
		}
		return nil, denied(fmt.Errorf("read Promotion %s: %w", name, err), readHint("promotions", ns))
	}
	if promo.Status.Phase.IsTerminal() {
		return nil, failedErrorf("Promotion %s already ended %s; there is nothing to cancel. To go back to an earlier revision, run `kubectl promote undo %s`", promo.Name, promo.Status.Phase, promo.Spec.Environment)
	}
	if promo.Spec.Cancel {
		return promo, nil
	}
	env := promo.Spec.Environment
	verb := identity.VerbPromote
	if promo.Spec.Rollback != nil {
		verb = identity.VerbRollback
	}
	if err := c.Patch(ctx, promo, client.RawPatch(types.MergePatchType, []byte(cancelPatch))); err != nil {
		err = denied(err, fmt.Sprintf("Canceling needs patch on promotions and the %q verb on environments/%s; check with `kubectl auth can-i %s environments/%s -n %s`",
			verb, env, verb, env, ns))
		return nil, fmt.Errorf("cancel Promotion %s: %w", promo.Name, err)
	}
	return promo, nil
}

// CancelTooLate reports whether a cancel of promo comes after its target
// changed, so that Baton will refuse it.
func CancelTooLate(promo *batonv1alpha1.Promotion) bool {
	switch promo.Status.Phase {
	case batonv1alpha1.PromotionReleasing, batonv1alpha1.PromotionPromoting, batonv1alpha1.PromotionRollingOut, batonv1alpha1.PromotionVerifying:
		return true
	}
	return false
}

// ListPromotions lists the Promotions into one Environment, rollbacks first,
// then oldest first, the order in which the engine queues them.
func ListPromotions(ctx context.Context, c client.Client, ns, env string) ([]batonv1alpha1.Promotion, error) {
	list := &batonv1alpha1.PromotionList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, denied(fmt.Errorf("list Promotions in namespace %s: %w", ns, err),
			fmt.Sprintf("Listing needs list on promotions (role baton-viewer); check with `kubectl auth can-i list promotions -n %s`", ns))
	}
	var out []batonv1alpha1.Promotion
	for _, p := range list.Items {
		if p.Spec.Environment == env {
			out = append(out, p)
		}
	}
	SortQueue(out)
	return out, nil
}

// SortQueue orders Promotions the way the engine queues them: rollbacks
// first, then oldest first, then by name.
func SortQueue(promos []batonv1alpha1.Promotion) {
	sort.SliceStable(promos, func(i, j int) bool {
		a, b := promos[i], promos[j]
		if (a.Spec.Rollback != nil) != (b.Spec.Rollback != nil) {
			return a.Spec.Rollback != nil
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

func requester(p *batonv1alpha1.Promotion) string {
	if p.Spec.RequestedBy == nil {
		return "-"
	}
	return p.Spec.RequestedBy.Username
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readHint says what reading a Baton resource needs.
func readHint(resource, ns string) string {
	return fmt.Sprintf("Reading needs get on %s (role baton-viewer); check with `kubectl auth can-i get %s -n %s`", resource, resource, ns)
}
