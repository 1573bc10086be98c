package identity

import (
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// The custom verbs on environments (group promotion.baton.dev) that Baton
// authorizes with a SubjectAccessReview, for the target Environment's name.
const (
	// VerbPromote allows creating a Promotion into the Environment.
	VerbPromote = "promote"
	// VerbRollback allows creating a rollback Promotion into the Environment.
	VerbRollback = "rollback"
	// VerbApprove allows approving a Promotion into the Environment.
	VerbApprove = "approve"
	// VerbOverride allows a break-glass Promotion (spec.override) into the
	// Environment: it starts during a freeze or outside the deploy windows.
	VerbOverride = "override"
	// VerbResume allows lifting the pause spec.pauseOnFailure put on the
	// Environment's autoPromote (spec.resume on the Promotion that caused it).
	VerbResume = "resume"
)

// The schema's limits on a UserInfo.
const (
	maxUsername = 256
	maxGroups   = 32
)

// Request is one admission request for a Promotion, decoded: everything the
// pure admission logic needs, and nothing it has to look up.
type Request struct {
	// Operation is CREATE or UPDATE.
	Operation admissionv1.Operation
	// Old is the stored object (UPDATE only).
	Old *batonv1alpha1.Promotion
	// New is the object the client sent.
	New *batonv1alpha1.Promotion
	// User is who sent the request, as the API server authenticated them.
	User authenticationv1.UserInfo
	// Now is when the request is admitted.
	Now time.Time
	// Approval is the target Environment's approval policy; nil when the
	// Environment does not exist.
	Approval *batonv1alpha1.ApprovalPolicy
}

// Check is an authorization the request needs: Verb on the Environment.
type Check struct {
	// Verb is one of VerbPromote, VerbRollback, VerbApprove.
	Verb string
	// Environment is the target Environment's name.
	Environment string
	// Action says what the verb is needed for, for the denial message.
	Action string
}

// Decision is what Admit allows: the stamped Promotion, provided every
// Check is authorized.
type Decision struct {
	// Promotion is New with requestedBy, approvals and canceledBy stamped.
	Promotion *batonv1alpha1.Promotion
	// Checks are the authorizations still to be made.
	Checks []Check
}

// Denial is a request Admit rejects. Field is the field it is about.
type Denial struct {
	Field   string
	Message string
}

func (d *Denial) Error() string { return d.Field + ": " + d.Message }

func deny(field, format string, args ...any) *Denial {
	return &Denial{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Admit stamps the server-owned fields of a Promotion from this request's
// user, and says which authorizations the request needs. It is pure: no
// API calls, so that it can be fuzzed.
//
// On CREATE, requestedBy becomes the requester, and approvals and
// canceledBy start empty, whatever the client sent. On UPDATE the three
// fields are first copied from the stored object, so that kubectl apply and
// server-side apply never erase them; then a request that appends exactly
// one entry to spec.approvals is an approval by this user, for
// status.image, and a request that sets spec.cancel is stamped in
// canceledBy.
func Admit(r Request) (*Decision, *Denial) {
	if r.New == nil {
		return nil, deny("object", "the request carries no Promotion")
	}
	if err := checkMarkerUntouched(r); err != nil {
		return nil, err
	}
	user, denial := userInfo(r.User)
	if denial != nil {
		return nil, denial
	}
	switch r.Operation {
	case admissionv1.Create:
		return admitCreate(r, user)
	case admissionv1.Update:
		if r.Old == nil {
			return nil, deny("object", "an update carries no stored Promotion")
		}
		return admitUpdate(r, user)
	default:
		return nil, deny("operation", "%s is not admitted by this webhook", r.Operation)
	}
}

// checkMarkerUntouched rejects a client that sets or alters the admission
// marker. Dropping it is allowed (server-side apply drops fields the applier
// owns): the webhook writes it again.
func checkMarkerUntouched(r Request) *Denial {
	const field = "metadata.annotations[" + batonv1alpha1.AdmissionMarkerAnnotation + "]"
	sent, ok := r.New.Annotations[batonv1alpha1.AdmissionMarkerAnnotation]
	if !ok {
		return nil
	}
	if r.Operation == admissionv1.Create {
		return deny(field, "is written only by Baton's admission webhook; remove it from the manifest")
	}
	if r.Old == nil || sent != r.Old.Annotations[batonv1alpha1.AdmissionMarkerAnnotation] {
		return deny(field, "is written only by Baton's admission webhook and cannot be set or changed by a client")
	}
	return nil
}

func admitCreate(r Request, user batonv1alpha1.UserInfo) (*Decision, *Denial) {
	if r.New.Name == "" {
		return nil, deny("metadata.name", "is required: generateName is not supported, because the name is bound into the admission marker before the API server would generate one")
	}
	if denial := checkEnvironment(r.New.Spec.Environment); denial != nil {
		return nil, denial
	}
	promo := r.New.DeepCopy()
	promo.Spec.RequestedBy = &user
	promo.Spec.Approvals = nil
	promo.Spec.CanceledBy = nil
	promo.Spec.ResumedBy = nil
	if promo.Spec.Resume {
		return nil, deny("spec.resume", "cannot be set on a new Promotion: it lifts a pause after a failure, on the finished Promotion that Environment %q's status.autoPromotePause names (kubectl promote resume %s)", promo.Spec.Environment, promo.Spec.Environment)
	}
	if promo.Spec.Cancel {
		promo.Spec.CanceledBy = new(user)
	}
	verb, action := VerbPromote, "create a Promotion into"
	if promo.Spec.Rollback != nil {
		verb, action = VerbRollback, "create a rollback Promotion into"
	}
	checks := []Check{{Verb: verb, Environment: promo.Spec.Environment, Action: action}}
	override, denial := admitOverride(promo, user)
	if denial != nil {
		return nil, denial
	}
	return &Decision{Promotion: promo, Checks: append(checks, override...)}, nil
}

// admitOverride stamps overriddenBy on a break-glass Promotion, which needs
// a reason and the verb override, and clears whatever a client sent in it
// otherwise.
func admitOverride(promo *batonv1alpha1.Promotion, user batonv1alpha1.UserInfo) ([]Check, *Denial) {
	promo.Spec.OverriddenBy = nil
	if promo.Spec.Override == nil {
		return nil, nil
	}
	if strings.TrimSpace(promo.Spec.Override.Reason) == "" {
		return nil, deny("spec.override.reason", "is required: say why the deploy windows and freezes are set aside; it goes into the history, the commit and the audit log")
	}
	promo.Spec.OverriddenBy = new(user)
	return []Check{{Verb: VerbOverride, Environment: promo.Spec.Environment,
		Action: "override the deploy windows and freezes of"}}, nil
}

// checkEnvironment denies a spec.environment that no Environment can have.
// The schema has the same rule, but mutating admission runs before the
// schema, and the webhook reads and authorizes the Environment by this name:
// a name with a '/' or '%' cannot even be put in the URL to read it.
func checkEnvironment(name string) *Denial {
	const field = "spec.environment"
	if name == "" {
		return deny(field, "is required: the Environment name, in this namespace, to promote into")
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return deny(field, "%q is not a valid Environment name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

func admitUpdate(r Request, user batonv1alpha1.UserInfo) (*Decision, *Denial) {
	old, sent := r.Old, r.New
	promo := sent.DeepCopy()
	promo.Spec.RequestedBy = old.Spec.RequestedBy.DeepCopy()
	promo.Spec.CanceledBy = old.Spec.CanceledBy.DeepCopy()
	promo.Spec.OverriddenBy = old.Spec.OverriddenBy.DeepCopy()
	promo.Spec.ResumedBy = old.Spec.ResumedBy.DeepCopy()
	promo.Spec.Approvals = copyApprovals(old.Spec.Approvals)

	var checks []Check
	env := old.Spec.Environment

	approving, denial := classifyApprovals(old.Spec.Approvals, sent.Spec.Approvals)
	if denial != nil {
		return nil, denial
	}
	if approving {
		approval, denial := newApproval(r, user)
		if denial != nil {
			return nil, denial
		}
		promo.Spec.Approvals = append(promo.Spec.Approvals, approval)
		checks = append(checks, Check{Verb: VerbApprove, Environment: env, Action: "approve a Promotion into"})
	}

	if sent.Spec.Cancel && !old.Spec.Cancel {
		promo.Spec.CanceledBy = new(user)
		verb := VerbPromote
		if old.Spec.Rollback != nil {
			verb = VerbRollback
		}
		checks = append(checks, Check{Verb: verb, Environment: env, Action: "cancel a Promotion into"})
	}

	if sent.Spec.Resume && !old.Spec.Resume {
		if !old.Status.Phase.IsTerminal() {
			return nil, deny("spec.resume", "Promotion %s is %s: only a finished Promotion, the one Environment %q's status.autoPromotePause names, can resume autoPromote (kubectl promote resume %s)",
				old.Name, phaseOrPending(old.Status.Phase), env, env)
		}
		promo.Spec.ResumedBy = new(user)
		// The manager's caches leave out the Promotions it labelled
		// finished; without the label it sees this one again, acts on the
		// resume and labels it finished once more.
		delete(promo.Labels, batonv1alpha1.FinishedLabel)
		checks = append(checks, Check{Verb: VerbResume, Environment: env, Action: "resume autoPromote in"})
	}
	return &Decision{Promotion: promo, Checks: checks}, nil
}

// isResuming reports whether an update sets spec.resume: the one request
// that may drop the finished label (FinishedLabel), which the mutating
// webhook does for it.
func isResuming(old, sent *batonv1alpha1.Promotion) bool {
	return old != nil && sent != nil && sent.Spec.Resume && !old.Spec.Resume
}

func phaseOrPending(p batonv1alpha1.PromotionPhase) string {
	if p == "" {
		return "not started"
	}
	return string(p)
}

// classifyApprovals compares the approvals the client sent with the stored
// ones. Sending none, or the same, keeps the stored ones; sending them plus
// exactly one more is an approval; so is sending exactly one empty entry,
// which replaces the list (a JSON patch "add" of /spec/approvals, or a merge
// patch) and is the one form that works whether or not the list exists yet.
// Anything else is an edit or a removal.
func classifyApprovals(stored, sent []batonv1alpha1.Approval) (approving bool, denial *Denial) {
	const field = "spec.approvals"
	if len(sent) == 0 {
		// Absent: an apply that does not mention approvals. Keep them.
		return false, nil
	}
	if len(sent) == 1 && isEmptyApproval(sent[0]) {
		// A stored approval is never empty, so this cannot be an edit.
		return true, nil
	}
	for i := range min(len(stored), len(sent)) {
		if !equality.Semantic.DeepEqual(stored[i], sent[i]) {
			return false, deny(fmt.Sprintf("%s[%d]", field, i), "existing approvals cannot be edited or removed; approve by appending one entry to the end of the list")
		}
	}
	switch {
	case len(sent) == len(stored):
		return false, nil
	case len(sent) < len(stored):
		return false, deny(field, "existing approvals cannot be removed (%d stored, %d sent)", len(stored), len(sent))
	case len(sent) == len(stored)+1:
		return true, nil
	default:
		return false, deny(field, "one approval per request: %d entries were appended", len(sent)-len(stored))
	}
}

func newApproval(r Request, user batonv1alpha1.UserInfo) (batonv1alpha1.Approval, *Denial) {
	const field = "spec.approvals"
	old := r.Old
	image := old.Status.Image
	if image == "" {
		return batonv1alpha1.Approval{}, deny(field, "cannot approve yet: Baton has not resolved the image (status.image is empty); retry when `kubectl get promotion %s` shows an Image", old.Name)
	}
	if old.Spec.RequestedBy != nil && old.Spec.RequestedBy.Username == user.Username &&
		(r.Approval == nil || !r.Approval.AllowSelfApproval) {
		return batonv1alpha1.Approval{}, deny(field, "%s requested this Promotion and cannot approve it: Environment %q does not set approval.allowSelfApproval", user.Username, old.Spec.Environment)
	}
	for _, a := range old.Spec.Approvals {
		if a.Username == user.Username && a.Image == image && a.Digest == old.Status.Digest {
			return batonv1alpha1.Approval{}, deny(field, "%s already approved image %s; each person approves once", user.Username, image)
		}
	}
	return batonv1alpha1.Approval{
		UserInfo:   user,
		Image:      image,
		Digest:     old.Status.Digest,
		ApprovedAt: metav1.NewTime(r.Now.UTC().Truncate(time.Second)),
	}, nil
}

// userInfo converts the authenticated user to what the schema stores.
func userInfo(u authenticationv1.UserInfo) (batonv1alpha1.UserInfo, *Denial) {
	if u.Username == "" {
		return batonv1alpha1.UserInfo{}, deny("userInfo", "the request is not authenticated")
	}
	if len(u.Username) > maxUsername {
		return batonv1alpha1.UserInfo{}, deny("userInfo.username", "is longer than %d characters and cannot be recorded", maxUsername)
	}
	out := batonv1alpha1.UserInfo{Username: u.Username, UID: u.UID}
	for _, g := range u.Groups {
		// The schema keeps at most maxGroups groups of at most maxUsername
		// characters; authorization does not depend on the recorded groups.
		if len(out.Groups) == maxGroups {
			break
		}
		if len(g) <= maxUsername {
			out.Groups = append(out.Groups, g)
		}
	}
	return out, nil
}

// isEmptyApproval reports whether an entry is {}: the request form for "I
// approve", which carries nothing, since the webhook fills in everything.
func isEmptyApproval(a batonv1alpha1.Approval) bool {
	return equality.Semantic.DeepEqual(a, batonv1alpha1.Approval{})
}

func copyApprovals(in []batonv1alpha1.Approval) []batonv1alpha1.Approval {
	if len(in) == 0 {
		return nil
	}
	out := make([]batonv1alpha1.Approval, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
