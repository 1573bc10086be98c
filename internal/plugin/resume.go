package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// resumeHint is what resuming needs, for a refusal.
func resumeHint(env, ns string) string {
	return fmt.Sprintf("Resuming needs patch on promotions and the %q verb on environments/%s (the baton-approver or baton-freezer role); check with `kubectl auth can-i resume environments/%s -n %s`",
		"resume", env, env, ns)
}

// liftByHand is the status patch that lifts a pause nobody can resume
// (formatted with the Environment and the namespace).
const liftByHand = `kubectl patch environment %s -n %s --subresource=status --type=merge -p '{"status":{"autoPromotePause":null}}'`

func newResumeCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "resume ENV",
		Short: "Resume autoPromote after spec.pauseOnFailure paused it",
		Long: `Lift the pause that spec.pauseOnFailure put on ENV's autoPromote and
spec.source deploys after a Promotion failed or was rolled back
(status.autoPromotePause). It sets spec.resume on that Promotion; the
webhook records you as resumedBy, and Baton clears the pause. The trigger
Promotions that waited Queued then start, in queue order.`,
		Example: `  kubectl promote resume production`,
		Args:    exactArgs("ENV"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.resume(cmd.Context(), args[0])
		},
	}
}

func (o *Options) resume(ctx context.Context, name string) error {
	c, ns, env, err := o.connectEnvironment(ctx, name)
	if err != nil {
		return err
	}
	pause := env.Status.AutoPromotePause
	if pause == nil {
		return failedErrorf("autoPromote in Environment %q is not paused: nothing to resume (see `kubectl promote status %s`)", name, name)
	}
	promo := &batonv1alpha1.Promotion{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: pause.Promotion.Name}, promo); err != nil {
		if apierrors.IsNotFound(err) {
			return failedErrorf("Promotion %s, which paused autoPromote in Environment %q, no longer exists, so it cannot be resumed; "+
				"someone who may write environments/status can lift the pause: "+liftByHand, pause.Promotion.Name, name, name, ns)
		}
		return denied(fmt.Errorf("read Promotion %s: %w", pause.Promotion.Name, err), readHint("promotions", ns))
	}
	if string(promo.UID) != pause.Promotion.UID {
		return failedErrorf("Promotion %s, which paused autoPromote in Environment %q, was deleted and created again; "+
			"someone who may write environments/status can lift the pause: "+liftByHand, pause.Promotion.Name, name, name, ns)
	}
	if promo.Spec.Resume {
		by := "someone"
		if promo.Spec.ResumedBy != nil {
			by = promo.Spec.ResumedBy.Username
		}
		if promo.IsFinishedLabelled() && stillPaused(ctx, c, env, promo) {
			// Baton handled that resume before this pause named the
			// Promotion (a rollback moved away from its revision later), and
			// spec.resume cannot be set twice.
			return failedErrorf("%s set spec.resume on Promotion %s before it paused autoPromote in Environment %q, and it cannot be set again; "+
				"someone who may write environments/status can lift the pause: "+liftByHand, by, promo.Name, name, name, ns)
		}
		fmt.Fprintf(o.ErrOut, "%s already resumed it; Baton lifts the pause in a moment\n", by)
		return nil
	}
	// A precondition on the UID: never resume a namesake.
	patch := fmt.Sprintf(`{"metadata":{"uid":%q},"spec":{"resume":true}}`, promo.UID)
	if err := c.Patch(ctx, promo, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return denied(fmt.Errorf("resume Promotion %s: %w", promo.Name, err), resumeHint(name, ns))
	}
	fmt.Fprintln(o.Out, promo.Name)
	fmt.Fprintf(o.ErrOut, "Resumed autoPromote in %s (paused since %s by Promotion %s, %s); the waiting Promotions start in turn: kubectl promote status %s\n",
		name, pause.Since.UTC().Format(time.RFC3339), pause.Promotion.Name, pause.Result, name)
	return nil
}

// stillPaused reads env again: whether its pause still names promo, which
// Baton has labelled finished again after handling its spec.resume.
func stillPaused(ctx context.Context, c client.Client, env *batonv1alpha1.Environment, promo *batonv1alpha1.Promotion) bool {
	again := &batonv1alpha1.Environment{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(env), again); err != nil {
		return true
	}
	return again.Status.AutoPromotePause != nil && again.Status.AutoPromotePause.Promotion.UID == string(promo.UID)
}
