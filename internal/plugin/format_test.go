package plugin

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/builder"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// now is the injected clock of every formatting test.
var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-d)); return &t }

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v; run `go test ./internal/plugin -run %s -update` to create it", path, err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

const (
	img11 = "registry.example.com/web:1.1"
	img12 = "registry.example.com/web:1.2"
	img13 = "registry.example.com/web:1.3"
)

func fixtureEnvironment() *batonv1alpha1.Environment {
	env := builder.Environment("shop", "production").Upstream("staging").Deployment("web", "web").Direct().RequiredApprovals(1).Build()
	env.Status = batonv1alpha1.EnvironmentStatus{
		Current: &batonv1alpha1.CurrentImage{Image: img11, Revision: 4, Since: ago(50 * time.Hour)},
		Conditions: []metav1.Condition{
			{Type: batonv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: batonv1alpha1.RolloutInProgressReason,
				Message: `Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...`, LastTransitionTime: *ago(4 * time.Minute)},
			{Type: batonv1alpha1.VerifiedCondition, Status: metav1.ConditionFalse, Reason: batonv1alpha1.RolloutInProgressReason, Message: "not healthy now", LastTransitionTime: *ago(4 * time.Minute)},
		},
		ActivePromotion: &batonv1alpha1.ObjectRef{Name: "production-20261126-115500-k3x9", UID: "uid-active"},
		History: []batonv1alpha1.Revision{
			{Revision: 1, Image: "registry.example.com/web:1.0", Result: batonv1alpha1.RevisionAdopted, FinishedAt: ago(30 * 24 * time.Hour)},
			{Revision: 2, Image: img11, Result: batonv1alpha1.RevisionSucceeded, RequestedBy: "alice", ApprovedBy: []string{"bob", "dave"},
				Commit: "4f2a9c1e0b7d3a5f", Promotion: &batonv1alpha1.ObjectRef{Name: "production-20261103-090000-ab12"},
				StartedAt: ago(23 * 24 * time.Hour), FinishedAt: ago(23*24*time.Hour - 3*time.Minute), Message: "Environment \"production\" runs " + img11},
			{Revision: 3, Image: img12, Result: batonv1alpha1.RevisionRolledBack, RequestedBy: "alice", ApprovedBy: []string{"bob"},
				Commit: "9d8c7b6a5f4e3d2c", StartedAt: ago(3 * 24 * time.Hour)},
			{Revision: 4, Image: img11, Digest: "sha256:0123456789abcdef", Result: batonv1alpha1.RevisionSucceeded, RequestedBy: "oncall", Rollback: true,
				Promotion: &batonv1alpha1.ObjectRef{Name: "production-rollback-20261123-120000-zz99"},
				Commit:    "1a2b3c4d5e6f7a8b", StartedAt: ago(50*time.Hour + time.Minute), FinishedAt: ago(50 * time.Hour), Message: "rolled back to revision 2"},
			{Revision: 5, Image: img13, RequestedBy: "alice", ApprovedBy: []string{"bob"}, StartedAt: ago(4 * time.Minute)},
		},
	}
	return env
}

// fixtureUpstream is staging, which verified production's images.
func fixtureUpstream() *batonv1alpha1.Environment {
	env := builder.Environment("shop", "staging").Deployment("web-staging", "web").Direct().Build()
	env.Status.VerifiedImages = []batonv1alpha1.VerifiedImage{
		{Image: img11, VerifiedAt: *ago(23*24*time.Hour + 2*time.Hour)},
		{Image: img12, VerifiedAt: *ago(3*24*time.Hour + 30*time.Minute)},
	}
	return env
}

func fixturePromotion(name string, created time.Duration, phase batonv1alpha1.PromotionPhase, reason, message string) batonv1alpha1.Promotion {
	p := *builder.Promotion("shop", name).Environment("production").RequestedBy("alice").Build()
	p.CreationTimestamp = *ago(created)
	p.Status = batonv1alpha1.PromotionStatus{Phase: phase, PhaseSince: ago(created / 2)}
	if reason != "" {
		p.Status.Conditions = []metav1.Condition{{Type: batonv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: reason, Message: message}}
	}
	return p
}

// fixtureQueue is production's unfinished Promotions in queue order.
func fixtureQueue() []batonv1alpha1.Promotion {
	active := fixturePromotion("production-20261126-115500-k3x9", 5*time.Minute, batonv1alpha1.PromotionRollingOut,
		batonv1alpha1.RolloutInProgressReason, `Delivered `+img13+` to Environment "production"; watching the rollout`)
	active.UID = "uid-active"
	active.Status.Image, active.Status.PreviousImage, active.Status.Revision = img13, img11, 5
	active.Spec.Approvals = []batonv1alpha1.Approval{{UserInfo: batonv1alpha1.UserInfo{Username: "bob"}, Image: img13, ApprovedAt: *ago(4 * time.Minute)}}
	active.Status.Release = &batonv1alpha1.ReleaseStatus{Job: active.Name + "-release", Result: batonv1alpha1.ReleaseSucceeded,
		StartedAt: ago(4 * time.Minute), FinishedAt: ago(3*time.Minute + 20*time.Second)}

	approval := fixturePromotion("production-20261126-115700-m2p4", 3*time.Minute, batonv1alpha1.PromotionWaitingForApproval,
		batonv1alpha1.WaitingForApprovalReason, "0 of 1 approval(s)")
	approval.Spec.Image, approval.Status.Image = img13, img13
	approval.Spec.Reason = "hotfix for checkout"

	queued := fixturePromotion("production-20261126-115800-q7r8", 2*time.Minute, batonv1alpha1.PromotionQueued,
		batonv1alpha1.QueuedReason, `Waiting for Promotion production-20261126-115500-k3x9, which holds the lease of Environment "production"`)
	queued.Status.Image = img13
	queued.Spec.RequestedBy.Username = "erin"

	pending := fixturePromotion("production-20261126-115900-u5v6", time.Minute, batonv1alpha1.PromotionPending,
		batonv1alpha1.UpstreamNotVerifiedReason, `registry.example.com/web:1.4 is not verified in Environment "staging" yet (it runs registry.example.com/web:1.4, soaking)`)
	pending.Spec.Image = "registry.example.com/web:1.4"

	fresh := fixturePromotion("production-20261126-115955-a1b2", 5*time.Second, "", "", "")
	return []batonv1alpha1.Promotion{active, approval, queued, pending, fresh}
}

func TestEnvironmentStatusGolden(t *testing.T) {
	var out bytes.Buffer
	if err := writeEnvironmentStatus(&out, fixtureEnvironment(), fixtureUpstream(), fixtureQueue(), nil, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-environment", out.Bytes())
}

func TestEnvironmentStatusIdleGolden(t *testing.T) {
	env := fixtureEnvironment()
	env.Spec.Upstream, env.Spec.Approval, env.Spec.Suspend = "", batonv1alpha1.ApprovalPolicy{}, true
	env.Status.ActivePromotion = nil
	env.Status.Conditions = []metav1.Condition{{Type: batonv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: batonv1alpha1.HealthyReason, Message: "rollout complete"}}
	var out bytes.Buffer
	if err := writeEnvironmentStatus(&out, env, nil, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-environment-idle", out.Bytes())
}

// TestEnvironmentStatusWorkloadsGolden: several process types get a line
// each, with the rollout read for it.
func TestEnvironmentStatusWorkloadsGolden(t *testing.T) {
	env := fixtureEnvironment()
	env.Spec.Workloads = []batonv1alpha1.WorkloadReference{*env.Spec.Workload,
		{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "worker", Namespace: "jobs", Containers: []string{"worker", "beat"}}}
	env.Spec.Workload = nil
	var out bytes.Buffer
	if err := writeEnvironmentStatus(&out, env, fixtureUpstream(), nil, []string{"3/3 updated, 3/3 ready", "rollout not shown (Forbidden)"}, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-environment-workloads", out.Bytes())
}

// TestEnvironmentStatusRemoteGolden: an Environment in another cluster
// names it, by the API server's address and the kubeconfig Secret, and the
// plugin does not read same-named workloads in this cluster.
func TestEnvironmentStatusRemoteGolden(t *testing.T) {
	env := fixtureEnvironment()
	env.Spec.Cluster = &batonv1alpha1.ClusterReference{KubeConfig: batonv1alpha1.KubeConfigReference{
		SecretRef: batonv1alpha1.LocalObjectReference{Name: "production-cluster"}}}
	env.Status.Cluster = &batonv1alpha1.ClusterStatus{Server: "https://prod.example.com:6443"}
	// A nil client: reading anything would panic.
	if got := readRollouts(context.Background(), nil, env); got != nil {
		t.Errorf("readRollouts of a remote Environment = %v, want nothing read", got)
	}
	if got := (&waiter{}).rollout(context.Background(), env); got != "" {
		t.Errorf("--wait's rollout of a remote Environment = %q, want nothing read", got)
	}
	var out bytes.Buffer
	if err := writeEnvironmentStatus(&out, env, fixtureUpstream(), nil, nil, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-environment-remote", out.Bytes())
}

func TestPromotionStatusGolden(t *testing.T) {
	queue := fixtureQueue()
	for _, tt := range []struct {
		name  string
		promo batonv1alpha1.Promotion
	}{
		{"status-promotion-approval", queue[1]},
		{"status-promotion-rollingout", queue[0]},
		{"status-promotion-releasing", func() batonv1alpha1.Promotion {
			p := fixturePromotion("production-20261126-120000-r3l5", 2*time.Minute, batonv1alpha1.PromotionReleasing,
				batonv1alpha1.ReleasingReason, "The release Job production-20261126-120000-r3l5-release runs registry.example.com/web:1.3; no workload changes before it succeeds")
			p.Status.Image, p.Status.PreviousImage, p.Status.Revision = "registry.example.com/web:1.3", "registry.example.com/web:1.1", 6
			p.Status.Release = &batonv1alpha1.ReleaseStatus{Job: p.Name + "-release", Result: batonv1alpha1.ReleaseRunning, StartedAt: ago(42 * time.Second)}
			return p
		}()},
		{"status-promotion-release-failed", func() batonv1alpha1.Promotion {
			msg := `the release Job production-20261126-120000-r3l5-release failed (BackoffLimitExceeded: Job has reached the specified backoff limit); its Pod's termination message ends: "migrate: Error (exit code 1): relation \"orders\" already exists"`
			p := fixturePromotion("production-20261126-120000-r3l5", 2*time.Minute, batonv1alpha1.PromotionFailed,
				batonv1alpha1.ReleaseFailedReason, "Release failed: "+msg+"; no workload was changed")
			p.Status.Image, p.Status.PreviousImage, p.Status.Revision = "registry.example.com/web:1.3", "registry.example.com/web:1.1", 6
			p.Status.Release = &batonv1alpha1.ReleaseStatus{Job: p.Name + "-release", Result: batonv1alpha1.ReleaseFailed, Message: msg,
				StartedAt: ago(time.Minute), FinishedAt: ago(30 * time.Second)}
			return p
		}()},
		{"status-promotion-failed", func() batonv1alpha1.Promotion {
			p := fixturePromotion("production-rollback-20261126-110000-zz11", time.Hour, batonv1alpha1.PromotionFailed,
				batonv1alpha1.RevisionNotFoundReason, `revision 9 is not in the history of Environment "production"`)
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: 9}
			p.Spec.RequestedBy.Username = "oncall"
			p.Status.Conditions = append(p.Status.Conditions, metav1.Condition{Type: batonv1alpha1.StalledCondition, Status: metav1.ConditionTrue,
				Reason: batonv1alpha1.RevisionNotFoundReason, Message: `revision 9 is not in the history of Environment "production"`})
			return p
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writePromotionStatus(&out, &tt.promo, fixtureEnvironment(), now); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, out.Bytes())
		})
	}
}

func TestHistoryGolden(t *testing.T) {
	var out bytes.Buffer
	if err := writeHistory(&out, fixtureEnvironment(), now); err != nil {
		t.Fatal(err)
	}
	golden(t, "history", out.Bytes())
}

func TestHistoryRevisionGolden(t *testing.T) {
	env := fixtureEnvironment()
	var out bytes.Buffer
	if err := writeRevision(&out, env, findRevision(env, 4), now); err != nil {
		t.Fatal(err)
	}
	golden(t, "history-revision", out.Bytes())
}

func TestWaitingFor(t *testing.T) {
	env := fixtureEnvironment()
	queue := fixtureQueue()
	tests := []struct {
		name  string
		promo batonv1alpha1.Promotion
		env   *batonv1alpha1.Environment
		want  string
	}{
		{"approvals missing", queue[1], env,
			`1 more approval(s) (0 of 1 for ` + img13 + `) from someone with the "approve" verb on environments/production: kubectl promote approve production-20261126-115700-m2p4`},
		{"lease held", queue[2], env,
			`Queued: Waiting for Promotion production-20261126-115500-k3x9, which holds the lease of Environment "production"`},
		{"lease held, no message yet", func() batonv1alpha1.Promotion {
			p := queue[2]
			p.Status.Conditions = nil
			return p
		}(), env, `the lease of Environment "production", held by Promotion production-20261126-115500-k3x9`},
		{"upstream not verified", queue[3], env, `UpstreamNotVerified: registry.example.com/web:1.4 is not verified in Environment "staging" yet`},
		{"not picked up", queue[4], env, "Baton has not picked it up yet"},
		{"approval without the Environment", queue[1], nil, "WaitingForApproval: 0 of 1 approval(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WaitingFor(&tt.promo, tt.env)
			if len(got) < len(tt.want) || got[:len(tt.want)] != tt.want {
				t.Errorf("waitingFor = %q, want it to start with %q", got, tt.want)
			}
		})
	}
}

func TestSortQueue(t *testing.T) {
	mk := func(name string, created time.Duration, rollback bool) batonv1alpha1.Promotion {
		p := fixturePromotion(name, created, batonv1alpha1.PromotionQueued, "", "")
		if rollback {
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{}
		}
		return p
	}
	queue := []batonv1alpha1.Promotion{
		mk("c-newest", time.Minute, false),
		mk("b-same-second", 5*time.Minute, false),
		mk("a-same-second", 5*time.Minute, false),
		mk("z-rollback", 30*time.Second, true),
		mk("oldest", time.Hour, false),
	}
	SortQueue(queue)
	var got []string
	for _, p := range queue {
		got = append(got, p.Name)
	}
	want := []string{"z-rollback", "oldest", "a-same-second", "b-same-second", "c-newest"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("queue order %v, want %v (rollbacks first, then creationTimestamp, then name)", got, want)
	}
}
