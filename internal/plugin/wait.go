package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// waiter follows one Promotion until it ends, printing a line whenever what
// a person would want to know changes.
type waiter struct {
	o     *Options
	c     client.WithWatch
	key   client.ObjectKey
	start time.Time
	last  string
	// workloadHidden is set once reading the workload was refused, so that
	// the refusal is reported once and not retried.
	workloadHidden bool
}

// wait follows promo until it reaches a terminal phase or timeout passes (0:
// no limit). It watches the Promotion, and re-reads it and the workload's
// rollout progress every RefreshInterval between events.
func (o *Options) wait(ctx context.Context, c client.WithWatch, promo *batonv1alpha1.Promotion, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	w := &waiter{o: o, c: c, key: client.ObjectKeyFromObject(promo), start: o.Now()}
	var events <-chan watch.Event
	startWatch := func() {
		wt, err := c.Watch(ctx, &batonv1alpha1.PromotionList{}, client.InNamespace(w.key.Namespace),
			client.MatchingFields{"metadata.name": w.key.Name})
		if err != nil {
			// Polling at RefreshInterval still works without a watch.
			events = nil
			return
		}
		context.AfterFunc(ctx, wt.Stop)
		events = wt.ResultChan()
	}
	startWatch()
	ticker := time.NewTicker(o.RefreshInterval)
	defer ticker.Stop()
	for {
		done, err := w.step(ctx)
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return failedErrorf("gave up waiting after %s; Promotion %s carries on in the cluster: follow it with `kubectl promote status %s`", timeout, w.key.Name, w.key.Name)
			}
			return ctx.Err()
		case _, ok := <-events:
			if !ok {
				startWatch()
			}
		case <-ticker.C:
			if events == nil {
				startWatch()
			}
		}
	}
}

// step reads the Promotion, prints what changed, and reports whether it
// has ended, with the error that ends the command when it did not succeed.
func (w *waiter) step(ctx context.Context) (bool, error) {
	promo := &batonv1alpha1.Promotion{}
	if err := w.c.Get(ctx, w.key, promo); err != nil {
		if apierrors.IsNotFound(err) {
			return true, failedErrorf("Promotion %s was deleted while it was followed; its history entry, if any, is in `kubectl promote history`", w.key.Name)
		}
		if ctx.Err() != nil {
			return false, nil
		}
		return true, denied(fmt.Errorf("read Promotion %s: %w", w.key.Name, err), readHint("promotions", w.key.Namespace))
	}
	env := &batonv1alpha1.Environment{}
	if err := w.c.Get(ctx, client.ObjectKey{Namespace: promo.Namespace, Name: promo.Spec.Environment}, env); err != nil {
		env = nil
	}
	// The reason often repeats the phase (Queued, Succeeded, Canceled).
	why := strings.TrimPrefix(WaitingFor(promo, env), PhaseOf(promo)+": ")
	line := fmt.Sprintf("%s: %s", PhaseOf(promo), why)
	if env != nil && holdsTarget(promo.Status.Phase) {
		if progress := w.rollout(ctx, env); progress != "" {
			line += "; " + progress
		}
	}
	if line != w.last {
		elapsed := w.o.Now().Sub(w.start).Round(time.Second)
		fmt.Fprintf(w.o.Out, "[%6s] %s\n", elapsed, line)
		w.last = line
	}
	if !promo.Status.Phase.IsTerminal() {
		return false, nil
	}
	return true, endError(promo)
}

// endError is nil for a Promotion that succeeded, and otherwise says what
// happened and what to do.
func endError(p *batonv1alpha1.Promotion) error {
	switch p.Status.Phase {
	case batonv1alpha1.PromotionSucceeded:
		return nil
	case batonv1alpha1.PromotionCanceled:
		return failedErrorf("Promotion %s was canceled; create a new one with `kubectl promote %s` if it is still wanted", p.Name, p.Spec.Environment)
	case batonv1alpha1.PromotionSuperseded:
		return failedErrorf("Promotion %s was superseded by a rollback; see `kubectl promote history %s`", p.Name, p.Spec.Environment)
	}
	return failedErrorf("Promotion %s failed; see `kubectl promote status %s`, and roll back with `kubectl promote undo %s` if the Environment is unhealthy",
		p.Name, p.Name, p.Spec.Environment)
}

// rollout reads the Environment's workloads and says how far their
// rollouts are, or "" when the user may not read them (said once).
func (w *waiter) rollout(ctx context.Context, env *batonv1alpha1.Environment) string {
	if w.workloadHidden || env.Spec.Cluster != nil {
		// In another cluster, which this kubeconfig may not reach: never a
		// same-named workload of this one.
		return ""
	}
	refs := env.WorkloadRefs()
	var parts []string
	for _, ref := range refs {
		progress, err := workloadProgress(ctx, w.c, env, ref)
		if err != nil {
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
				w.workloadHidden = true
				fmt.Fprintf(w.o.ErrOut, "Note: rollout progress is not shown: cannot read %s %s (%s). Phases are still followed.\n",
					ref.Kind, workloadKey(env, ref), apierrors.ReasonForError(err))
			}
			return ""
		}
		if len(refs) > 1 {
			progress = ref.Name + " " + progress
		}
		parts = append(parts, progress)
	}
	return strings.Join(parts, "; ")
}

// workloadProgress reads one workload and says how far its rollout is.
func workloadProgress(ctx context.Context, c client.Client, env *batonv1alpha1.Environment, ref batonv1alpha1.WorkloadReference) (string, error) {
	var obj client.Object
	switch ref.Kind {
	case batonv1alpha1.WorkloadKindStatefulSet:
		obj = &appsv1.StatefulSet{}
	case batonv1alpha1.WorkloadKindDaemonSet:
		obj = &appsv1.DaemonSet{}
	default:
		obj = &appsv1.Deployment{}
	}
	if err := c.Get(ctx, workloadKey(env, ref), obj); err != nil {
		return "", err
	}
	return replicaProgress(obj), nil
}

// workloadKey is where a workload is: its namespace defaults to the
// Environment's.
func workloadKey(env *batonv1alpha1.Environment, ref batonv1alpha1.WorkloadReference) client.ObjectKey {
	ns := ref.Namespace
	if ns == "" {
		ns = env.Namespace
	}
	return client.ObjectKey{Namespace: ns, Name: ref.Name}
}

// replicaProgress is "updated/desired updated, ready/desired ready" for a
// workload, as kubectl rollout status counts them.
func replicaProgress(obj client.Object) string {
	var desired, updated, ready int32
	switch o := obj.(type) {
	case *appsv1.Deployment:
		desired = 1
		if o.Spec.Replicas != nil {
			desired = *o.Spec.Replicas
		}
		updated, ready = o.Status.UpdatedReplicas, o.Status.ReadyReplicas
	case *appsv1.StatefulSet:
		desired = 1
		if o.Spec.Replicas != nil {
			desired = *o.Spec.Replicas
		}
		updated, ready = o.Status.UpdatedReplicas, o.Status.ReadyReplicas
	case *appsv1.DaemonSet:
		desired, updated, ready = o.Status.DesiredNumberScheduled, o.Status.UpdatedNumberScheduled, o.Status.NumberReady
	default:
		return ""
	}
	return fmt.Sprintf("%d/%d updated, %d/%d ready", updated, desired, ready, desired)
}
