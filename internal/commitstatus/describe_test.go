package commitstatus

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		ch       Change
		required int32
		state    State
		desc     string
	}{
		{Change{Environment: "staging", Phase: batonv1alpha1.PromotionSucceeded}, 0, Success, "staging: deployed and verified"},
		{Change{Environment: "production", Phase: batonv1alpha1.PromotionWaitingForApproval}, 1, Pending, "production: waiting for 1 approval"},
		{Change{Environment: "production", Phase: batonv1alpha1.PromotionWaitingForApproval, Approvals: 1}, 3, Pending, "production: waiting for 2 approvals"},
		{Change{Environment: "staging", Phase: batonv1alpha1.PromotionRollingOut}, 0, Running, "staging: rolling out"},
		{Change{Environment: "staging", Phase: batonv1alpha1.PromotionVerifying}, 0, Running, "staging: verifying"},
		{Change{Environment: "production", Phase: batonv1alpha1.PromotionFailed, Reason: "RolloutFailed"}, 0, Failure, "production: failed (RolloutFailed)"},
		{Change{Environment: "production", Phase: batonv1alpha1.PromotionSuperseded}, 0, Canceled, "production: superseded by another promotion"},
		{Change{Environment: "production", Phase: batonv1alpha1.PromotionRollingOut, Rollback: true}, 0, Running, "production: rolling back to the previous revision"},
		{Change{Environment: "production", Phase: batonv1alpha1.PromotionSucceeded, Rollback: true, ToRevision: 3}, 0, Failure, "production: rolled back"},
		{Change{Environment: "production", Phase: batonv1alpha1.PromotionFailed, Rollback: true, ToRevision: 3}, 0, Failure, "production: rollback to revision 3 failed"},
		{Change{Environment: strings.Repeat("e", 200), Phase: batonv1alpha1.PromotionSucceeded}, 0, Success, strings.Repeat("e", 137) + "..."},
	} {
		st, ok := Describe(tc.ch, tc.required)
		if !ok || st.State != tc.state || st.Description != tc.desc || st.Context != "baton/"+tc.ch.Environment {
			t.Errorf("Describe(%s %s) = %+v, %v; want %s %q", tc.ch.Environment, tc.ch.Phase, st, ok, tc.state, tc.desc)
		}
	}
	if st, ok := Describe(Change{Environment: "staging", Phase: batonv1alpha1.PromotionWaitingForApproval}, 0); ok {
		t.Errorf("a Promotion that needs no approval is shown as %+v", st)
	}
	if st, ok := Describe(Change{Environment: "production", Phase: batonv1alpha1.PromotionWaitingForApproval, Approvals: 1}, 1); ok {
		t.Errorf("a Promotion with its approval is shown as %+v", st)
	}
}

func TestCommitOf(t *testing.T) {
	c1, c2 := strings.Repeat("1", 40), strings.Repeat("2", 40)
	entry := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "staging"}}
	entry.Status.History = []batonv1alpha1.Revision{
		{Revision: 1, Image: "reg/web:old"},
		{Revision: 2, Image: "reg/web:aaa", SourceCommit: c1},
		{Revision: 3, Image: "reg/web:bbb", SourceCommit: c2},
		{Revision: 4, Image: "reg/web:aaa", Rollback: true},
	}
	prod := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "production"}}
	for _, tc := range []struct {
		name string
		ch   Change
		env  *batonv1alpha1.Environment
		want string
	}{
		{"the entry Promotion names its commit", Change{Environment: "staging", Image: "reg/web:ccc", SourceCommit: c2}, entry, c2},
		{"downstream finds the image in the entry history", Change{Environment: "production", Image: "reg/web:aaa"}, prod, c1},
		{"a rollback reports on the image it leaves", Change{Environment: "production", Image: "reg/web:aaa", PreviousImage: "reg/web:bbb", Rollback: true}, prod, c2},
		{"an image from no source commit", Change{Environment: "production", Image: "reg/web:old"}, prod, ""},
		{"an image staging never ran", Change{Environment: "production", Image: "reg/web:zzz"}, prod, ""},
	} {
		if got := CommitOf(tc.ch, tc.env, entry); got != tc.want {
			t.Errorf("%s: CommitOf = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestBadInput: what the schema cannot see is refused naming the field,
// before any call and never showing the token.
func TestBadInput(t *testing.T) {
	src := func(url string, cs batonv1alpha1.CommitStatus) *batonv1alpha1.Source {
		return &batonv1alpha1.Source{Git: batonv1alpha1.GitSource{URL: url}, CommitStatus: &cs}
	}
	ref := batonv1alpha1.LocalObjectReference{Name: "forge-token"}
	for _, tc := range []struct {
		name    string
		src     *batonv1alpha1.Source
		allowed []string
		says    string // "" means accepted
	}{
		{"github.com defaults", src("https://github.com/acme/web.git", batonv1alpha1.CommitStatus{SecretRef: ref}), nil, ""},
		{"gitlab.com over ssh defaults", src("git@gitlab.com:acme/platform/web.git", batonv1alpha1.CommitStatus{SecretRef: ref}), nil, ""},
		{"another host without provider", src("https://git.example.com/acme/web", batonv1alpha1.CommitStatus{SecretRef: ref}), nil, "spec.source.commitStatus.provider: git.url is on git.example.com"},
		{"gitea without address", src("https://git.example.com/acme/web", batonv1alpha1.CommitStatus{Provider: "gitea", SecretRef: ref}), nil, "spec.source.commitStatus.address: required for gitea"},
		{"plain http address", src("https://git.example.com/acme/web", batonv1alpha1.CommitStatus{Provider: "gitea", Address: "http://git.example.com", SecretRef: ref}), nil, "is http://; the token travels only over https://"},
		{"an address the manager does not allow", src("https://git.example.com/acme/web", batonv1alpha1.CommitStatus{Provider: "gitea", Address: "https://evil.example.net", SecretRef: ref}), []string{"git.example.com"}, `address names host "evil.example.net", which is not in the manager's --allowed-git-hosts`},
		{"a GitHub repository that is not owner/name", src("https://github.com/acme/sub/web", batonv1alpha1.CommitStatus{SecretRef: ref}), nil, "spec.source.commitStatus.repository: github needs owner/name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(tc.src, tc.allowed)
			if (tc.says == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Resolve = %v; want %q", err, tc.says)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		says   string
	}{
		{"unlabelled", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "forge-token"}, Data: map[string][]byte{TokenKey: []byte(token)}}, "labelled promotion.baton.dev/credentials=true"},
		{"a ServiceAccount token", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "forge-token", Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}}, Type: corev1.SecretTypeServiceAccountToken, Data: map[string][]byte{TokenKey: []byte(token)}}, "must be of type Opaque"},
		{"no token key", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "forge-token", Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}}, Data: map[string][]byte{"password": []byte(token)}}, `has no key "token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tokenOf(tc.secret)
			if err == nil || !strings.HasPrefix(err.Error(), "spec.source.commitStatus.secretRef: ") || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), token) {
				t.Fatalf("tokenOf = %v; want %q, without the token", err, tc.says)
			}
		})
	}
}
