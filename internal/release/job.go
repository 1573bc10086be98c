package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/jobtemplate"
	"github.com/baton-dev/baton/internal/verification"
)

// Labels and annotations on a release Job. The environment label is the
// one job checks carry, so one cache selector holds both kinds.
const (
	// EnvironmentLabel names the Environment the release Job belongs to.
	EnvironmentLabel = verification.JobEnvironmentLabel
	// PromotionUIDLabel is the UID of the one Promotion the Job releases:
	// a Job found under the name without it is never adopted.
	PromotionUIDLabel = "promotion.baton.dev/promotion-uid"
	// PromotionAnnotation names that Promotion (a label value is too short
	// for every Promotion name).
	PromotionAnnotation = "promotion.baton.dev/promotion"
	// ImageAnnotation and RevisionAnnotation say what the Job releases; the
	// Pods carry them too (the dev cluster's kwok fails a Pod by image).
	ImageAnnotation    = verification.JobImageAnnotation
	RevisionAnnotation = verification.JobRevisionAnnotation

	// DefaultTimeout is spec.release.timeout when it is empty.
	DefaultTimeout = 10 * time.Minute

	// terminationTail is how much of a Pod's termination message a failed
	// release quotes: its end, where a migration prints what failed.
	terminationTail = 512
	suffix          = "-release"
)

// Field is the path of the release Job's template in an Environment.
const Field = "spec.release.job"

// JobName is the name of the one release Job of the Promotion named
// promotion: <promotion>-release, or, for a long name, its start and a hash
// of the whole, so that it fits in 63 characters (the Job controller copies
// it into a label of the Pods). A restarted manager finds it again by it.
func JobName(promotion string) string {
	if len(promotion)+len(suffix) <= validation.DNS1123LabelMaxLength {
		return promotion + suffix
	}
	sum := sha256.Sum256([]byte(promotion))
	tail := "-" + hex.EncodeToString(sum[:])[:8] + suffix
	head := strings.TrimRight(promotion[:validation.DNS1123LabelMaxLength-len(tail)], "-.")
	return head + tail
}

// Timeout is how long the release Job of env may run.
func Timeout(env *batonv1alpha1.Environment) time.Duration {
	if r := env.Spec.Release; r != nil && r.Timeout != nil && r.Timeout.Duration > 0 {
		return r.Timeout.Duration
	}
	return DefaultTimeout
}

// Runs reports whether Promotion p runs env's release Job: env has
// spec.release, and p is not a rollback unless spec.release.onRollback.
func Runs(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) bool {
	r := env.Spec.Release
	return r != nil && (p.Spec.Rollback == nil || r.OnRollback)
}

// Container is the index of the container of t that runs the promoted
// image: the one the ReleaseContainerAnnotation names, or the first. The
// error names the field.
func Container(t *batonv1alpha1.JobTemplate) (int, *field.Error) {
	cs := t.Template.Spec.Containers
	name, named := t.Template.Annotations[batonv1alpha1.ReleaseContainerAnnotation]
	if !named {
		if len(cs) == 0 {
			return -1, field.Required(field.NewPath("spec", "release", "job", "template", "spec", "containers"),
				"the release Job needs a container to run the promoted image")
		}
		return 0, nil
	}
	names := make([]string, 0, len(cs))
	for i, c := range cs {
		if c.Name == name {
			return i, nil
		}
		names = append(names, c.Name)
	}
	return -1, field.Invalid(field.NewPath("spec", "release", "job", "template", "metadata", "annotations").Key(batonv1alpha1.ReleaseContainerAnnotation),
		name, fmt.Sprintf("the template has no container of that name (it has %s)", strings.Join(names, ", ")))
}

// Subject is what a release Job is built for: the Promotion and the
// reference written to the workloads, which the release container runs.
type Subject struct {
	Promotion *batonv1alpha1.Promotion
	// Image is the reference delivery writes (pinned to its digest when
	// the Environment pins).
	Image string
}

// BuildJob is the release Job of s in env: the template, with the release
// container's image set to s.Image, Baton's variables in every container
// (replacing any BATON_ ones the template set), the labels that find it
// again, and a controller reference to the Promotion, whose reconciler
// watches it. The admission webhook dry-runs this same Job.
func BuildJob(env *batonv1alpha1.Environment, s Subject) (*batchv1.Job, error) {
	t := &env.Spec.Release.Job
	i, ferr := Container(t)
	if ferr != nil {
		return nil, ferr
	}
	p := s.Promotion
	revision := strconv.FormatInt(p.Status.Revision, 10)
	annotations := map[string]string{PromotionAnnotation: p.Name, ImageAnnotation: s.Image, RevisionAnnotation: revision}
	job := jobtemplate.Build(t, metav1.ObjectMeta{
		Name:            JobName(p.Name),
		Namespace:       env.Namespace,
		Labels:          map[string]string{EnvironmentLabel: env.Name, PromotionUIDLabel: string(p.UID)},
		Annotations:     annotations,
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(p, batonv1alpha1.GroupVersion.WithKind("Promotion"))},
	}, []corev1.EnvVar{
		{Name: "BATON_ENVIRONMENT", Value: env.Name},
		{Name: "BATON_NAMESPACE", Value: env.Namespace},
		{Name: "BATON_IMAGE", Value: s.Image},
		{Name: "BATON_PREVIOUS_IMAGE", Value: p.Status.PreviousImage},
		{Name: "BATON_REVISION", Value: revision},
		{Name: "BATON_PROMOTION", Value: p.Name},
	})
	job.Spec.Template.Spec.Containers[i].Image = s.Image
	pod := &job.Spec.Template.ObjectMeta
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	for k, v := range annotations {
		pod.Annotations[k] = v
	}
	return job, nil
}

// Owned says why job, found under the release Job's name, is not the one
// Baton created for s: a Job someone else created there is never adopted,
// since its success would stand for a release that never ran. nil when it
// is Baton's: it carries the Promotion's UID, and the Promotion controls
// it, or, in a remote cluster, it carries the Environment's namespace.
// The image is compared only while env has spec.release.
func Owned(job *batchv1.Job, env *batonv1alpha1.Environment, s Subject) error {
	uid := string(s.Promotion.UID)
	if got := job.Labels[PromotionUIDLabel]; got != uid {
		return fmt.Errorf("its label %s is %q, not this Promotion's UID %s", PromotionUIDLabel, got, uid)
	}
	if env.Spec.Cluster != nil {
		// In a remote cluster the Promotion cannot own it (Target.Place).
		if got := job.Labels[jobtemplate.EnvironmentNamespaceLabel]; got != env.Namespace {
			return fmt.Errorf("its label %s is %q, not %s", jobtemplate.EnvironmentNamespaceLabel, got, env.Namespace)
		}
	} else if ref := metav1.GetControllerOf(job); ref == nil || string(ref.UID) != uid {
		return fmt.Errorf("it is not controlled by this Promotion (UID %s)", uid)
	}
	if env.Spec.Release == nil {
		return nil
	}
	if i, ferr := Container(&env.Spec.Release.Job); ferr == nil && len(job.Spec.Template.Spec.Containers) > i &&
		job.Spec.Template.Spec.Containers[i].Image != s.Image {
		return fmt.Errorf("its release container runs %s, not %s", job.Spec.Template.Spec.Containers[i].Image, s.Image)
	}
	return nil
}

// Verdict is what a release Job says.
type Verdict struct {
	Result batonv1alpha1.ReleaseResult
	// Message is why it failed: the Job's reason and message and the tail
	// of its Pods' termination messages.
	Message string
	// At is when it finished, when it did.
	At *metav1.Time
}

// Judge reads job: Succeeded once it is Complete, Failed once it failed,
// with termination, what its failed Pods said, quoted by its tail; Running
// otherwise.
func Judge(job *batchv1.Job, termination string) Verdict {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		at := c.LastTransitionTime
		switch c.Type {
		case batchv1.JobComplete:
			return Verdict{Result: batonv1alpha1.ReleaseSucceeded, At: &at}
		case batchv1.JobFailed:
			msg := fmt.Sprintf("the release Job %s failed (%s: %s)", job.Name, c.Reason, c.Message)
			if t := Tail(termination); t != "" {
				msg += fmt.Sprintf("; its Pod's termination message ends: %q", t)
			}
			return Verdict{Result: batonv1alpha1.ReleaseFailed, Message: msg, At: &at}
		}
	}
	return Verdict{Result: batonv1alpha1.ReleaseRunning}
}

// Tail is the end of a termination message, where a program prints what
// failed.
func Tail(s string) string {
	if len(s) <= terminationTail {
		return s
	}
	return "..." + s[len(s)-terminationTail:]
}
