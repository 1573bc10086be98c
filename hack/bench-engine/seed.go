package main

import (
	"context"
	"fmt"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// pastEnvironment names the Environment the seeded Promotions finished in.
// It does not exist, so retention never prunes them, and the manager never
// reads them: they are what a namespace's history costs by its mere size.
const pastEnvironment = "bench-past"

// withoutWebhooks runs f with Baton's admission webhook configurations
// removed, and puts them back after, as they were.
func (b *bench) withoutWebhooks(ctx context.Context, f func() error) error {
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	saved := []client.Object{mutating, validating}
	names := []string{"baton-mutating-webhook-configuration", "baton-validating-webhook-configuration"}
	for i, o := range saved {
		if err := b.admin.Get(ctx, client.ObjectKey{Name: names[i]}, o); err != nil {
			return fmt.Errorf("read %s: %w", names[i], err)
		}
		if err := b.admin.Delete(ctx, o); err != nil {
			return fmt.Errorf("remove %s for the seeding: %w", names[i], err)
		}
	}
	err := f()
	for _, o := range saved {
		o.SetResourceVersion("")
		o.SetUID("")
		if cerr := b.admin.Create(ctx, o); cerr != nil && err == nil {
			err = fmt.Errorf("put back %s: %w", o.GetName(), cerr)
		}
	}
	return err
}

// parallelN runs f(i) for i in [from, to) on that many workers, and
// returns the first error.
func parallelN(workers, from, to int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// seedFinished makes the namespace ns hold at least n finished Promotions
// (past-<i>), as the manager leaves them: phase Succeeded and the finished
// label. have is how many it already holds (seeded); a name that exists is
// skipped.
func (b *bench) seedFinished(ctx context.Context, ns string, have, n int) error {
	if have >= n {
		return nil
	}
	return b.withoutWebhooks(ctx, func() error {
		return parallelN(32, have, n, func(i int) error {
			p := builder.Promotion(ns, fmt.Sprintf("past-%d", i)).Environment(pastEnvironment).
				Image(fmt.Sprintf("registry.example.com/bench:past-%d", i)).RequestedBy("alice").Build()
			p.Labels = map[string]string{batonv1alpha1.FinishedLabel: batonv1alpha1.FinishedLabelValue(pastEnvironment)}
			if err := b.admin.Create(ctx, p); err != nil {
				if apierrors.IsAlreadyExists(err) {
					return nil // seeded by an earlier, interrupted run
				}
				return fmt.Errorf("seed Promotion %s: %w", p.Name, err)
			}
			p.Status.Phase = batonv1alpha1.PromotionSucceeded
			p.Status.Image = p.Spec.Image
			now := metav1.Now()
			p.Status.PhaseSince = &now
			return b.admin.Status().Update(ctx, p)
		})
	})
}

// seedEnvironments makes namespace ns hold Environments env-0 … env-(n-1),
// each with its Deployment (no replicas: their rollout is complete at once)
// and the given verification checks.
func (b *bench) seedEnvironments(ctx context.Context, ns string, have, n int, checks ...batonv1alpha1.VerificationCheck) error {
	if err := b.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return parallelN(32, have, n, func(i int) error {
		name := fmt.Sprintf("env-%d", i)
		d := builder.Deployment(ns, name).Replicas(0).Container("web", "registry.example.com/bench:0").Build()
		if err := b.admin.Create(ctx, d); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("seed Deployment %s: %w", name, err)
		}
		eb := builder.Environment(ns, name).Deployment(name, "web").Direct().SoakTime(0)
		for _, c := range checks {
			eb.Check(c)
		}
		env := eb.Build()
		if err := b.admin.Create(ctx, env); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("seed Environment %s: %w", name, err)
		}
		return nil
	})
}

// seeded counts the finished Promotions in ns, metadata only.
func (b *bench) seeded(ctx context.Context, ns string) (int, error) {
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(batonv1alpha1.GroupVersion.WithKind("PromotionList"))
	count, next := 0, ""
	for {
		if err := b.admin.List(ctx, &list, client.InNamespace(ns), client.HasLabels{batonv1alpha1.FinishedLabel},
			client.Limit(5000), client.Continue(next)); err != nil {
			return 0, err
		}
		count += len(list.Items)
		if next = list.Continue; next == "" {
			return count, nil
		}
	}
}
