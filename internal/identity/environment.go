package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kjson "sigs.k8s.io/json"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/jobtemplate"
	"github.com/baton-dev/baton/internal/release"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/internal/workload"
)

// EnvironmentPath is the Environment webhook's path.
const EnvironmentPath = "/validate-promotion-baton-dev-v1alpha1-environment"

// A job check, and the release Job (spec.release.job), run a Pod of the
// author's choosing with Baton's rights to create Jobs. This webhook keeps
// that from being a way around RBAC: who adds or changes one must be
// allowed to create Jobs in the namespace themselves. It also validates the
// Pod template, which the CRD keeps schemaless. The matchCondition calls it
// only for an Environment that has a job check or a release Job, so every
// other Environment never depends on the webhook being up.
//
// +kubebuilder:webhook:path=/validate-promotion-baton-dev-v1alpha1-environment,mutating=false,failurePolicy=fail,sideEffects=None,groups=promotion.baton.dev,resources=environments,verbs=create;update,versions=v1alpha1,name=venvironment.promotion.baton.dev,admissionReviewVersions=v1,timeoutSeconds=10,patch=`{"matchConditions":[{"name":"has-job","expression":"has(object.spec.release) || (has(object.spec.verification) && has(object.spec.verification.checks) && object.spec.verification.checks.exists(c, has(c.job)))"}]}`

// JobAuthorizer answers whether a user may create a kind of object.
type JobAuthorizer interface {
	MayCreate(ctx context.Context, user authenticationv1.UserInfo, namespace, group, resource string) (bool, string, error)
}

// EnvironmentValidator is the Environment webhook. For each job check
// added or changed, and for a release Job added or changed, it asks whether
// the requester may create Jobs, then validates the Pod template, which the
// CRD keeps schemaless: it builds the Job exactly as the Environment
// reconciler (or, for the release, the Promotion engine) would and creates
// it as a server-side dry run with Client, so the API server's own Job and
// Pod validation answers, each refused field named under
// spec.verification.checks[N].job or spec.release.job.
//
// An Environment with spec.cluster runs its Jobs in that cluster, so the
// dry run goes there, through Remote, placed as the engine places them.
// When that cluster cannot be reached, or its kubeconfig is not usable
// yet, the Environment is admitted with a Warning after a dry run in this
// cluster: the Environment's conditions say what is wrong with the
// cluster, and the cluster's refusal of a Job then fails that Job.
type EnvironmentValidator struct {
	Authorizer JobAuthorizer
	Client     client.Client
	// Remote gives clients of Environments' spec.cluster; nil serves
	// none.
	Remote RemoteClusters
}

// RemoteClusters gives a client of an Environment's spec.cluster and its
// API server's address (remote.Clusters).
type RemoteClusters interface {
	Client(ctx context.Context, env *batonv1alpha1.Environment) (client.Client, string, error)
}

// Handle implements admission.Handler.
func (v EnvironmentValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	env := &batonv1alpha1.Environment{}
	strict, err := kjson.UnmarshalStrict(req.Object.Raw, env)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the Environment: %w", err))
	}
	var old *batonv1alpha1.Environment
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = &batonv1alpha1.Environment{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the old Environment: %w", err))
		}
	}
	changed := changedJobChecks(old, env)
	releaseChanged := changedRelease(old, env)
	if len(changed) == 0 && !releaseChanged {
		return admission.Allowed("")
	}
	first, what := release.Field, "the release Job"
	if len(changed) > 0 {
		first, what = jobField(changed[0]), "the job check"
	}
	allowed, reason, err := v.Authorizer.MayCreate(ctx, req.UserInfo, env.Namespace, "batch", "jobs")
	if err != nil {
		return admission.Errored(http.StatusServiceUnavailable, fmt.Errorf("authorize %s: %w", first, err))
	}
	if !allowed {
		msg := fmt.Sprintf("%s: user %q may not create jobs (group batch) in namespace %s, and %s runs its Job with Baton's rights; ask for that right, or leave %s to someone who has it",
			first, req.UserInfo.Username, env.Namespace, what, what)
		if reason != "" {
			msg += " (" + reason + ")"
		}
		return admission.Denied(msg)
	}
	dry := v.dryRunner(ctx, env)
	var causes []metav1.StatusCause
	for _, i := range changed {
		causes = append(causes, unknownTemplateFields(strict, jobField(i))...)
		job := verification.BuildJob(dryRunOwner(env), &env.Spec.Verification.Checks[i], dryRunImage(env), dryRunRevision(env))
		refused, err := dry.validate(ctx, v.Client, job, jobField(i))
		if err != nil {
			return admission.Errored(http.StatusServiceUnavailable, err)
		}
		causes = append(causes, refused...)
	}
	if releaseChanged {
		refused, err := validateRelease(ctx, dry, v.Client, env, strict)
		if err != nil {
			return admission.Errored(http.StatusServiceUnavailable, err)
		}
		causes = append(causes, refused...)
	}
	if len(causes) > 0 {
		return invalid(env, causes)
	}
	return admission.Allowed("").WithWarnings(dry.warnings...)
}

// dryRunner is where an Environment's Jobs are dry-run: the cluster they
// would run in, or this one, with a warning, when that cluster cannot
// judge them.
type dryRunner struct {
	// client is the remote cluster's, nil for this cluster.
	client client.Client
	server string
	target jobtemplate.Target
	// warnings say why a Job was judged in this cluster instead.
	warnings []string
}

func (v EnvironmentValidator) dryRunner(ctx context.Context, env *batonv1alpha1.Environment) *dryRunner {
	d := &dryRunner{target: jobtemplate.Target{Namespace: env.Namespace, EnvironmentNamespace: env.Namespace}}
	if env.Spec.Cluster == nil {
		return d
	}
	refs := env.WorkloadRefs()
	switch {
	case v.Remote == nil:
		d.fallBack("", "this manager serves no remote clusters")
		return d
	case len(refs) == 0:
		d.fallBack("", "spec.workloads is empty, and a Job in spec.cluster runs in the namespace of the first workload")
		return d
	}
	c, server, err := v.Remote.Client(ctx, env)
	if err != nil {
		d.fallBack(server, err.Error())
		return d
	}
	d.client, d.server = c, server
	d.target = jobtemplate.Target{Namespace: workload.Key(env, refs[0]).Namespace, Remote: true, EnvironmentNamespace: env.Namespace}
	return d
}

// fallBack records why the Jobs are judged in this cluster.
func (d *dryRunner) fallBack(server, why string) {
	where := "spec.cluster"
	if server != "" {
		where = "spec.cluster (" + server + ")"
	}
	d.warnings = append(d.warnings, fmt.Sprintf(
		"the Job templates were dry-run in the management cluster, not in %s, where they run: %s; the Environment's conditions say when that cluster answers, and a Job it refuses fails then",
		where, why))
	d.client = nil
	d.target = jobtemplate.Target{Namespace: d.target.EnvironmentNamespace, EnvironmentNamespace: d.target.EnvironmentNamespace}
}

// validate dry-runs job, built for the Environment's namespace, where d
// places it: jobtemplate.Validate. A remote cluster that does not judge it
// (it does not answer, its namespace is missing) falls back to local.
func (d *dryRunner) validate(ctx context.Context, local client.Client, job *batchv1.Job, base string) ([]metav1.StatusCause, error) {
	if d.client != nil {
		placed := job.DeepCopy()
		d.target.Place(placed)
		causes, err := jobtemplate.Validate(ctx, d.client, placed, base)
		if err == nil && mayNotCreateJobs(causes) {
			// Baton's identity there lacks the Jobs Role: the
			// Environment's conditions name it, and binding it later is
			// not a change of this Environment.
			err = fmt.Errorf("%s; bind the Role in config/remote-cluster/jobs to the kubeconfig's identity in namespace %s (docs/clusters.md)",
				causes[0].Message, d.target.Namespace)
		}
		if err == nil {
			for i := range causes {
				causes[i].Message = fmt.Sprintf("the cluster at %s (spec.cluster) refused the Job in namespace %s: %s", d.server, d.target.Namespace, causes[i].Message)
			}
			return causes, nil
		}
		d.fallBack(d.server, err.Error())
	}
	return jobtemplate.Validate(ctx, local, job, base)
}

func jobField(i int) string { return fmt.Sprintf("spec.verification.checks[%d].job", i) }

// unknownTemplateFields are the fields under base.template that the Pod
// template does not have: the schemaless CRD keeps them, and the Go type
// would drop them without a word, so a misspelt field is refused.
func unknownTemplateFields(strict []error, base string) []metav1.StatusCause {
	var causes []metav1.StatusCause
	for _, e := range strict {
		msg := e.Error()
		path, ok := strings.CutPrefix(msg, `unknown field "`)
		if !ok || !strings.HasPrefix(path, base+".template") {
			continue
		}
		causes = append(causes, metav1.StatusCause{
			Type: metav1.CauseTypeFieldValueNotSupported, Field: strings.TrimSuffix(path, `"`),
			Message: "unknown field: a Pod template has no such field (see kubectl explain pod.spec)",
		})
	}
	return causes
}

// invalid is the refusal of env for causes, Invalid (422) as a schema's
// refusal is, each cause naming its field.
func invalid(env *batonv1alpha1.Environment, causes []metav1.StatusCause) admission.Response {
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed: false,
		Result: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid,
			Message: fmt.Sprintf("Environment %q is invalid: %s (Baton checks a Job's Pod template by creating the Job it would run as a server-side dry run)",
				env.Name, jobtemplate.Message(causes)),
			Details: &metav1.StatusDetails{Group: batonv1alpha1.GroupVersion.Group, Kind: "Environment", Name: env.Name, Causes: causes},
		},
	}}
}

// mayNotCreateJobs: the refusal is the authorizer's, not the template's.
func mayNotCreateJobs(causes []metav1.StatusCause) bool {
	return len(causes) == 1 && causes[0].Type == metav1.CauseTypeForbidden &&
		strings.Contains(causes[0].Message, `cannot create resource "jobs" in API group "batch"`)
}

// dryRunOwner is env with a UID: the API server fills it in before the
// validating webhooks see a new object, but a Job's owner reference
// without one is refused, and that would not be the template's fault.
func dryRunOwner(env *batonv1alpha1.Environment) *batonv1alpha1.Environment {
	if env.UID != "" {
		return env
	}
	owner := env.DeepCopy()
	owner.UID = types.UID("00000000-0000-0000-0000-000000000000")
	return owner
}

// dryRunImage and dryRunRevision fill BATON_IMAGE and BATON_REVISION as
// the reconciler would for what the Environment runs now; their values
// never make a Job invalid.
func dryRunImage(env *batonv1alpha1.Environment) string {
	if c := env.Status.Current; c != nil && c.Image != "" {
		return c.Image
	}
	return "registry.invalid/dry-run:latest"
}

func dryRunRevision(env *batonv1alpha1.Environment) int64 {
	if c := env.Status.Current; c != nil && c.Revision > 0 {
		return c.Revision
	}
	return 1
}

// changedJobChecks are the indices of the job checks of env that old did
// not have with the same job: added, or whose job changed. Removing a
// check, or changing anything else about one, runs no new Pod.
func changedJobChecks(old, env *batonv1alpha1.Environment) []int {
	var changed []int
	for i, c := range env.Spec.Verification.Checks {
		if c.Job == nil {
			continue
		}
		if old != nil {
			if prev := findCheck(old.Spec.Verification.Checks, c.Name); prev != nil && reflect.DeepEqual(prev.Job, c.Job) {
				continue
			}
		}
		changed = append(changed, i)
	}
	return changed
}

// changedRelease: env has a release Job that old did not have with the
// same job.
func changedRelease(old, env *batonv1alpha1.Environment) bool {
	if env.Spec.Release == nil {
		return false
	}
	return old == nil || old.Spec.Release == nil || !reflect.DeepEqual(old.Spec.Release.Job, env.Spec.Release.Job)
}

// validateRelease refuses a release Job template whose release container
// cannot be found, and dry-runs the Job the Promotion engine would create.
// The release container may leave its image empty: Baton sets it.
func validateRelease(ctx context.Context, dry *dryRunner, local client.Client, env *batonv1alpha1.Environment, strict []error) ([]metav1.StatusCause, error) {
	causes := unknownTemplateFields(strict, release.Field)
	if _, ferr := release.Container(&env.Spec.Release.Job); ferr != nil {
		return append(causes, metav1.StatusCause{Type: metav1.CauseType(ferr.Type), Field: ferr.Field, Message: ferr.ErrorBody()}), nil
	}
	job, err := release.BuildJob(env, release.Subject{Promotion: dryRunPromotion(env), Image: dryRunImage(env)})
	if err != nil {
		return nil, err // Container was checked above
	}
	refused, err := dry.validate(ctx, local, job, release.Field)
	return append(causes, refused...), err
}

// dryRunPromotion stands for the Promotion a release Job is built for.
func dryRunPromotion(env *batonv1alpha1.Environment) *batonv1alpha1.Promotion {
	p := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: env.Namespace, Name: "dry-run",
		UID: types.UID("00000000-0000-0000-0000-000000000000")}}
	p.Status.Revision = dryRunRevision(env)
	if c := env.Status.Current; c != nil {
		p.Status.PreviousImage = c.Image
	}
	return p
}

func findCheck(checks []batonv1alpha1.VerificationCheck, name string) *batonv1alpha1.VerificationCheck {
	for i := range checks {
		if checks[i].Name == name {
			return &checks[i]
		}
	}
	return nil
}
