package identity_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

// FuzzAdmit feeds random stored and sent Promotions and random users to the
// webhook's pure logic. Whatever it admits never records anyone but this
// request's user in a new entry, never changes the requester on update, and
// never drops or edits a stored approval.
func FuzzAdmit(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"p"},"spec":{"environment":"production","image":"web:1"}}`),
		[]byte(`{"metadata":{"name":"p"},"spec":{"environment":"production","requestedBy":{"username":"bob"},"approvals":[{"username":"bob","image":"x","approvedAt":"2020-01-01T00:00:00Z"}]}}`),
		"alice", "developers", int64(1700000000), true, false)
	f.Add([]byte(`{"metadata":{"name":"p"},"spec":{"environment":"production","requestedBy":{"username":"alice"}},"status":{"image":"web:1"}}`),
		[]byte(`{"metadata":{"name":"p"},"spec":{"environment":"production","approvals":[{}]}}`),
		"bob", "approvers,system:authenticated", int64(1700000000), false, false)
	f.Add([]byte(`{"metadata":{"name":"p"},"spec":{"environment":"production","requestedBy":{"username":"alice"},"approvals":[{"username":"bob","image":"web:1","approvedAt":"2020-01-01T00:00:00Z"}]},"status":{"image":"web:1"}}`),
		[]byte(`{"metadata":{"name":"p"},"spec":{"environment":"production","approvals":[{"username":"bob","image":"web:1","approvedAt":"2020-01-01T00:00:00Z"},{"username":"mallory","image":"web:evil"}],"cancel":true,"canceledBy":{"username":"eve"}}}`),
		"dave", "", int64(0), false, true)
	f.Add([]byte(`{"metadata":{"name":"p","labels":{"promotion.baton.dev/finished-in":"production"}},"spec":{"environment":"production","requestedBy":{"username":"alice"}},"status":{"phase":"Failed","image":"web:1"}}`),
		[]byte(`{"metadata":{"name":"p","labels":{"promotion.baton.dev/finished-in":"production"}},"spec":{"environment":"production","resume":true,"resumedBy":{"username":"eve"}}}`),
		"oncall", "", int64(1700000000), false, false)
	f.Fuzz(func(t *testing.T, oldJSON, newJSON []byte, username, groups string, now int64, create, allowSelf bool) {
		old, sent := &batonv1alpha1.Promotion{}, &batonv1alpha1.Promotion{}
		if json.Unmarshal(oldJSON, old) != nil || json.Unmarshal(newJSON, sent) != nil {
			return
		}
		user := authenticationv1.UserInfo{Username: username, Groups: strings.Split(groups, ",")}
		req := identity.Request{
			Operation: admissionv1.Update,
			Old:       old,
			New:       sent,
			User:      user,
			Now:       time.Unix(now, 0),
			Approval:  &batonv1alpha1.ApprovalPolicy{Required: 1, AllowSelfApproval: allowSelf},
		}
		if create {
			req.Operation, req.Old = admissionv1.Create, nil
		}
		oldCopy, sentCopy := old.DeepCopy(), sent.DeepCopy()
		decision, denial := identity.Admit(req)
		if !equality.Semantic.DeepEqual(old, oldCopy) || !equality.Semantic.DeepEqual(sent, sentCopy) {
			t.Fatal("Admit modified its inputs")
		}
		if denial != nil {
			if denial.Field == "" || denial.Message == "" {
				t.Fatalf("a denial must name the field and say why: %+v", denial)
			}
			return
		}
		got := decision.Promotion.Spec
		if got.RequestedBy == nil && create {
			t.Fatal("create admitted without a requester")
		}
		if create {
			if errs := validation.IsDNS1123Subdomain(got.Environment); len(errs) > 0 {
				t.Fatalf("create admitted spec.environment %q, which no Environment can have: %v", got.Environment, errs)
			}
			if got.RequestedBy.Username != username || len(got.Approvals) != 0 {
				t.Fatalf("create recorded %+v with approvals %+v for user %q", got.RequestedBy, got.Approvals, username)
			}
			if got.CanceledBy != nil && got.CanceledBy.Username != username {
				t.Fatalf("canceledBy %q, user %q", got.CanceledBy.Username, username)
			}
			if got.Resume || got.ResumedBy != nil {
				t.Fatalf("create admitted resume %v, resumedBy %+v", got.Resume, got.ResumedBy)
			}
			return
		}
		if !equality.Semantic.DeepEqual(got.RequestedBy, old.Spec.RequestedBy) {
			t.Fatalf("requestedBy changed on update: %+v -> %+v", old.Spec.RequestedBy, got.RequestedBy)
		}
		if len(got.Approvals) < len(old.Spec.Approvals) {
			t.Fatalf("an approval was dropped: %d -> %d", len(old.Spec.Approvals), len(got.Approvals))
		}
		for i := range old.Spec.Approvals {
			if !equality.Semantic.DeepEqual(got.Approvals[i], old.Spec.Approvals[i]) {
				t.Fatalf("approval %d was edited: %+v -> %+v", i, old.Spec.Approvals[i], got.Approvals[i])
			}
		}
		added := got.Approvals[len(old.Spec.Approvals):]
		if len(added) > 1 {
			t.Fatalf("%d approvals added in one request", len(added))
		}
		for _, a := range added {
			if a.Username != username || a.Image != old.Status.Image || a.Image == "" {
				t.Fatalf("added approval %+v, user %q, image %q", a, username, old.Status.Image)
			}
			if !allowSelf && old.Spec.RequestedBy != nil && old.Spec.RequestedBy.Username == username {
				t.Fatal("self-approval admitted")
			}
			if !hasCheck(decision.Checks, identity.VerbApprove) {
				t.Fatal("an approval was admitted without an approve check")
			}
		}
		if !equality.Semantic.DeepEqual(got.CanceledBy, old.Spec.CanceledBy) && (got.CanceledBy == nil || got.CanceledBy.Username != username) {
			t.Fatalf("canceledBy %+v, user %q", got.CanceledBy, username)
		}
		if !equality.Semantic.DeepEqual(got.ResumedBy, old.Spec.ResumedBy) {
			if got.ResumedBy == nil || got.ResumedBy.Username != username || !hasCheck(decision.Checks, identity.VerbResume) || !old.Status.Phase.IsTerminal() {
				t.Fatalf("resumedBy %+v, user %q, checks %+v, phase %q", got.ResumedBy, username, decision.Checks, old.Status.Phase)
			}
		}
	})
}

func hasCheck(checks []identity.Check, verb string) bool {
	for _, c := range checks {
		if c.Verb == verb {
			return true
		}
	}
	return false
}
