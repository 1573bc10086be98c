package identity

import (
	"maps"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// MetadataRequest is a request's metadata change, for CheckMetadata.
type MetadataRequest struct {
	// Operation is CREATE or UPDATE.
	Operation admissionv1.Operation
	// Old is the stored object (UPDATE only); New the object after every
	// mutation.
	Old, New *batonv1alpha1.Promotion
	// ByManager is true when Baton's own manager sent the request.
	ByManager bool
}

// CheckMetadata refuses changes to the metadata the engine trusts, by anyone
// but Baton's manager. It is pure, like Admit.
//
//   - Baton's annotations (promotion.baton.dev/..., the marker aside, which
//     Admit guards) say how Baton created the Promotion; the auto-promote-key
//     decides whether it counts as a deliberate re-ship of a rejected image.
//     Only the manager sets them, at creation; nobody changes them after.
//
//   - ownerReferences: an owner's deletion garbage-collects the Promotion in
//     flight. A Promotion has no owner.
//
//   - The engine's finalizer keeps a Promotion until its history entry is
//     closed and its lease released. Removing it from a Promotion that is
//     not finished would leak the lease and block the Environment; once the
//     Promotion is terminal anyone who may update it may remove it, so that
//     deleting one never waits for a manager that is down.
//
//   - The finished label (FinishedLabel) takes a Promotion out of the
//     manager's caches: on a live Promotion it would hide it from the engine
//     and wedge its Environment's lease. Only the manager sets it, when the
//     Promotion is finished; nobody removes or changes it, but for the
//     mutating webhook, which drops it from the finished Promotion a
//     request resumes autoPromote on (spec.resume), so that the manager
//     sees it again.
//
// Other labels, other annotations and other finalizers are the user's.
func CheckMetadata(r MetadataRequest) *Denial {
	if r.ByManager || r.New == nil {
		return nil
	}
	var old *batonv1alpha1.Promotion
	if r.Operation == admissionv1.Update {
		if r.Old == nil {
			return deny("object", "an update carries no stored Promotion")
		}
		old = r.Old
	}
	if d := checkBatonAnnotations(old, r.New); d != nil {
		return d
	}
	if d := checkOwners(old, r.New); d != nil {
		return d
	}
	if d := checkFinishedLabel(old, r.New); d != nil && !resumeDropsFinished(old, r.New) {
		return d
	}
	return checkFinalizer(old, r.New)
}

// batonAnnotations returns the Promotion's Baton annotations but the marker.
func batonAnnotations(p *batonv1alpha1.Promotion) map[string]string {
	out := map[string]string{}
	if p == nil {
		return out
	}
	for k, v := range p.Annotations {
		if strings.HasPrefix(k, batonv1alpha1.BatonPrefix) && k != batonv1alpha1.AdmissionMarkerAnnotation {
			out[k] = v
		}
	}
	return out
}

func checkBatonAnnotations(old, sent *batonv1alpha1.Promotion) *Denial {
	before, after := batonAnnotations(old), batonAnnotations(sent)
	keys := slices.Sorted(maps.Keys(after))
	for k := range before {
		if _, ok := after[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		v, had := before[k]
		if now, has := after[k]; had == has && v == now {
			continue
		}
		field := "metadata.annotations[" + k + "]"
		if old == nil {
			return deny(field, "is set only by Baton on the Promotions it creates itself (autoPromote, merges to main); remove it from the manifest")
		}
		return deny(field, "was set by Baton when it created the Promotion and cannot be added, changed or removed: the engine decides with it (the auto-promote-key decides whether the Promotion is a deliberate re-ship)")
	}
	return nil
}

func checkOwners(old, sent *batonv1alpha1.Promotion) *Denial {
	const field = "metadata.ownerReferences"
	if old == nil {
		if len(sent.OwnerReferences) > 0 {
			return deny(field, "a Promotion cannot be owned by another object: the garbage collector would delete it, in flight, with its owner; remove ownerReferences from the manifest")
		}
		return nil
	}
	if !equality.Semantic.DeepEqual(old.OwnerReferences, sent.OwnerReferences) {
		return deny(field, "cannot be changed: an owner's deletion would garbage-collect the Promotion in flight and leak its Environment's lease")
	}
	return nil
}

func checkFinalizer(old, sent *batonv1alpha1.Promotion) *Denial {
	if old == nil || !controllerutil.ContainsFinalizer(old, batonv1alpha1.PromotionFinalizer) ||
		controllerutil.ContainsFinalizer(sent, batonv1alpha1.PromotionFinalizer) || old.Status.Phase.IsTerminal() {
		return nil
	}
	phase := string(old.Status.Phase)
	if phase == "" {
		phase = "not yet set"
	}
	return deny("metadata.finalizers["+batonv1alpha1.PromotionFinalizer+"]",
		"only Baton removes it while the Promotion is not finished (phase %s): it keeps the Environment's history and lease until Baton closes them; cancel the Promotion (spec.cancel: true) or delete it and Baton lets it go", phase)
}

func checkFinishedLabel(old, sent *batonv1alpha1.Promotion) *Denial {
	const field = "metadata.labels[" + batonv1alpha1.FinishedLabel + "]"
	v, has := sent.Labels[batonv1alpha1.FinishedLabel]
	if old == nil {
		if has {
			return deny(field, "is set only by Baton, on a Promotion it has finished; remove it from the manifest")
		}
		return nil
	}
	if was, had := old.Labels[batonv1alpha1.FinishedLabel]; had != has || was != v {
		return deny(field, "is set only by Baton when the Promotion finishes, and cannot be added, changed or removed: a Promotion with it leaves Baton's caches, so on a live one it would hide it from the engine")
	}
	return nil
}

// resumeDropsFinished is the one removal of the finished label that is not
// the manager's: the mutating webhook's, in the request that sets
// spec.resume on a finished Promotion, whose marker the validating webhook
// has verified by then.
func resumeDropsFinished(old, sent *batonv1alpha1.Promotion) bool {
	_, has := sent.Labels[batonv1alpha1.FinishedLabel]
	return isResuming(old, sent) && old.Status.Phase.IsTerminal() && !has
}
