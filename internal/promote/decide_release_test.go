package promote

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/release"
)

// withRelease gives env a release Job running "migrate".
func withRelease(tune ...func(*batonv1alpha1.ReleasePhase)) func(*batonv1alpha1.Environment) {
	return func(env *batonv1alpha1.Environment) {
		env.Spec.Release = &batonv1alpha1.ReleasePhase{Job: batonv1alpha1.JobTemplate{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "migrate", Image: "placeholder", Command: []string{"manage.py", "migrate"}}},
		}}}}
		for _, f := range tune {
			f(env.Spec.Release)
		}
	}
}

// releaseJob is the release Job Baton builds for p in env, as found: with
// the given status conditions.
func releaseJob(t *testing.T, p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, conds ...batchv1.JobCondition) *batchv1.Job {
	t.Helper()
	job, err := release.BuildJob(env, release.Subject{Promotion: p, Image: deliveredRef(p, env)})
	if err != nil {
		t.Fatal(err)
	}
	job.UID = "job-uid"
	job.Status.Conditions = conds
	return job
}

func jobCondition(t batchv1.JobConditionType, reason, message string) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(now)}
}

func TestDecideRelease(t *testing.T) {
	queued := promotion("p", batonv1alpha1.PromotionQueued)
	undo := promotion("undo", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) {
		p.Spec.Rollback, p.Status.Image, p.Spec.Reason = &batonv1alpha1.RollbackSpec{}, web1, "checkout errors"
	})
	releasing := func(tune ...func(*batonv1alpha1.Promotion)) *batonv1alpha1.Promotion {
		return promotion("p", batonv1alpha1.PromotionReleasing, append([]func(*batonv1alpha1.Promotion){func(p *batonv1alpha1.Promotion) {
			p.Status.Revision, p.Status.PreviousImage = 2, web1
		}}, tune...)...)
	}
	started := func(ago time.Duration) func(*batonv1alpha1.Promotion) {
		return func(p *batonv1alpha1.Promotion) {
			p.Status.Release = &batonv1alpha1.ReleaseStatus{Job: "p-release", Result: batonv1alpha1.ReleaseRunning, StartedAt: at(-ago)}
		}
	}
	p := releasing()
	env := func(tune ...func(*batonv1alpha1.Environment)) *batonv1alpha1.Environment {
		return production(append([]func(*batonv1alpha1.Environment){leasedTo(p), withRelease()}, tune...)...)
	}
	found := func(job *batchv1.Job, termination string) *ReleaseOutcome {
		return &ReleaseOutcome{Job: job, Termination: termination}
	}
	running := releaseJob(t, p, env())
	succeeded := releaseJob(t, p, env(), jobCondition(batchv1.JobComplete, "CompletionsReached", ""))
	failed := releaseJob(t, p, env(), jobCondition(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit"))
	squatted := running.DeepCopy()
	squatted.Labels[release.PromotionUIDLabel] = "someone-else"
	untouched := func(t *testing.T, d Decision) {
		t.Helper()
		if d.Action == Deliver || d.Environment == nil {
			t.Fatalf("action %v, Environment written %v", d.Action, d.Environment != nil)
		}
		last := d.Environment.History[len(d.Environment.History)-1]
		if last.Result != batonv1alpha1.RevisionFailed || d.Environment.ActivePromotion != nil {
			t.Errorf("history entry %+v, lease %+v: want Failed and released", last, d.Environment.ActivePromotion)
		}
		if d.Rollback != nil || d.Status.AutoRollback != nil {
			t.Errorf("an automatic rollback was asked for, though nothing changed")
		}
	}
	releaseResult := func(want batonv1alpha1.ReleaseResult, mentions ...string) func(*testing.T, Decision) {
		return func(t *testing.T, d Decision) {
			t.Helper()
			r := d.Status.Release
			if r == nil || r.Result != want || r.Job != "p-release" || r.StartedAt == nil {
				t.Fatalf("status.release = %+v, want %s", r, want)
			}
			for _, m := range mentions {
				if !strings.Contains(r.Message, m) {
					t.Errorf("status.release.message %q does not mention %q", r.Message, m)
				}
			}
		}
	}
	both := func(fs ...func(*testing.T, Decision)) func(*testing.T, Decision) {
		return func(t *testing.T, d Decision) {
			t.Helper()
			for _, f := range fs {
				f(t, d)
			}
		}
	}

	for _, tc := range []decideCase{
		{"the lease goes to Releasing, not Promoting, when the Environment has spec.release",
			Input{Upstream: staging(), Promotion: queued, Environment: production(withRelease()), Queue: []batonv1alpha1.Promotion{*queued}},
			want{phase: batonv1alpha1.PromotionReleasing, reason: batonv1alpha1.ReleasingReason, mentions: []string{"p-release", "before any workload changes"}, envWritten: true,
				check: func(t *testing.T, d Decision) {
					if d.Status.Revision != 2 || d.Status.PreviousImage != web1 {
						t.Errorf("intent: revision %d, previous %q", d.Status.Revision, d.Status.PreviousImage)
					}
					if c := findCondition(d.Status.Conditions, batonv1alpha1.ReconcilingCondition); c == nil || c.Reason != batonv1alpha1.ReleasingReason {
						t.Errorf("Reconciling = %+v, want reason Releasing", c)
					}
				}}},
		{"a rollback skips the release Job",
			Input{Upstream: staging(), Promotion: undo, Environment: production(withRelease()), Queue: []batonv1alpha1.Promotion{*undo}},
			want{phase: batonv1alpha1.PromotionPromoting, reason: batonv1alpha1.ProgressingReason, envWritten: true}},
		{"a rollback runs it with onRollback",
			Input{Upstream: staging(), Promotion: undo, Environment: production(withRelease(func(r *batonv1alpha1.ReleasePhase) { r.OnRollback = true })), Queue: []batonv1alpha1.Promotion{*undo}},
			want{phase: batonv1alpha1.PromotionReleasing, reason: batonv1alpha1.ReleasingReason, envWritten: true}},
		{"asks for the release Job, which it may create, with the delivered image",
			Input{Upstream: staging(), Promotion: p, Environment: env()},
			want{phase: batonv1alpha1.PromotionReleasing, action: RunRelease, check: func(t *testing.T, d Decision) {
				if d.Release == nil || d.Release.Name != "p-release" || !d.ReleaseCreate {
					t.Fatalf("release Job %+v, create %v", d.Release, d.ReleaseCreate)
				}
				c := d.Release.Spec.Template.Spec.Containers[0]
				if c.Image != web2 || d.Release.Labels[release.PromotionUIDLabel] != "p-uid" {
					t.Errorf("release container image %q, labels %v", c.Image, d.Release.Labels)
				}
			}}},
		{"pins the release image to the digest when the Environment pins",
			Input{Upstream: verifying("reg.example.com/web:2@sha256:" + strings.Repeat("a", 64)), Environment: env(func(e *batonv1alpha1.Environment) { e.Spec.Delivery.PinDigest = true }),
				Promotion: releasing(func(p *batonv1alpha1.Promotion) {
					p.Status.Image, p.Status.Digest = "reg.example.com/web:2@sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("a", 64)
				})},
			want{action: RunRelease, check: func(t *testing.T, d Decision) {
				if got := d.Release.Spec.Template.Spec.Containers[0].Image; got != "reg.example.com/web@sha256:"+strings.Repeat("a", 64) {
					t.Errorf("release image = %q", got)
				}
			}}},
		{"never creates the Job again once one was recorded",
			Input{Upstream: staging(), Promotion: releasing(started(time.Minute)), Environment: env()},
			want{action: RunRelease, check: func(t *testing.T, d Decision) {
				if d.ReleaseCreate {
					t.Errorf("ReleaseCreate = true for a Promotion that recorded its Job")
				}
			}}},
		{"checks again before the Job runs the new image",
			Input{Promotion: p, Environment: env(), Upstream: func() *batonv1alpha1.Environment { e := staging(); e.Status.VerifiedImages = nil; return e }()},
			want{phase: batonv1alpha1.PromotionFailed, finished: true, envWritten: true, mentions: []string{"before the release Job"}, check: untouched}},
		{"stays Releasing while the Job runs, and looks again at the timeout",
			Input{Upstream: staging(), Promotion: p, Environment: env(), Release: found(running, "")},
			want{phase: batonv1alpha1.PromotionReleasing, reason: batonv1alpha1.ReleasingReason, mentions: []string{"p-release"}, check: both(releaseResult(batonv1alpha1.ReleaseRunning), func(t *testing.T, d Decision) {
				if d.RequeueAfter != release.DefaultTimeout {
					t.Errorf("requeue after %v, want %v", d.RequeueAfter, release.DefaultTimeout)
				}
			})}},
		{"a succeeded Job moves on to Promoting",
			Input{Upstream: staging(), Promotion: releasing(started(time.Minute)), Environment: env(), Release: found(succeeded, "")},
			want{phase: batonv1alpha1.PromotionPromoting, reason: batonv1alpha1.ProgressingReason, mentions: []string{"release Job p-release succeeded"}, check: both(releaseResult(batonv1alpha1.ReleaseSucceeded), func(t *testing.T, d Decision) {
				if d.Status.Release.FinishedAt == nil || d.Environment != nil {
					t.Errorf("finishedAt %v, Environment written %v", d.Status.Release.FinishedAt, d.Environment != nil)
				}
			})}},
		{"a failed Job fails the Promotion with the Job's reason and its Pod's termination message, and nothing is rolled back",
			Input{Upstream: staging(), Promotion: releasing(started(time.Minute)), Environment: env(func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true }),
				Release: found(failed, "migrate: Error (exit code 1): "+strings.Repeat("x", 600)+"relation \"orders\" already exists")},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ReleaseFailedReason, finished: true, envWritten: true,
				mentions: []string{"BackoffLimitExceeded", `relation \"orders\" already exists`, "no workload was changed"},
				check:    both(untouched, releaseResult(batonv1alpha1.ReleaseFailed, "BackoffLimitExceeded", "..."))}},
		{"a Job past spec.release.timeout is deleted first",
			Input{Upstream: staging(), Promotion: releasing(started(11 * time.Minute)), Environment: env(), Release: found(running, "")},
			want{phase: batonv1alpha1.PromotionReleasing, action: DeleteRelease, check: func(t *testing.T, d Decision) {
				if d.Release == nil || d.Release.UID != "job-uid" {
					t.Errorf("Job to delete = %+v", d.Release)
				}
			}}},
		{"then the Promotion fails with ReleaseFailed",
			Input{Upstream: staging(), Promotion: releasing(started(11 * time.Minute)), Environment: env(), Release: &ReleaseOutcome{Job: running, Deleted: true}},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ReleaseFailedReason, finished: true, envWritten: true,
				mentions: []string{"spec.release.timeout (10m0s)"}, check: both(untouched, releaseResult(batonv1alpha1.ReleaseFailed, "timeout"))}},
		{"spec.release.timeout is the Environment's",
			Input{Upstream: staging(), Promotion: releasing(started(2 * time.Minute)), Release: found(running, ""),
				Environment: env(withRelease(func(r *batonv1alpha1.ReleasePhase) { r.Timeout = &metav1.Duration{Duration: time.Minute} }))},
			want{action: DeleteRelease}},
		{"a Job someone else created under the name is not adopted",
			Input{Upstream: staging(), Promotion: p, Environment: env(), Release: found(squatted, "")},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ReleaseFailedReason, finished: true, envWritten: true,
				mentions: []string{"not the release Job Baton created", "someone-else", "does not adopt"}, check: untouched}},
		{"a release Job that vanished is not run again",
			Input{Upstream: staging(), Promotion: releasing(started(time.Minute)), Environment: env(), Release: &ReleaseOutcome{}},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ReleaseFailedReason, finished: true, envWritten: true, mentions: []string{"deleted before it finished"}, check: untouched}},
		{"a Job the API server refuses fails the Promotion",
			Input{Upstream: staging(), Promotion: p, Environment: env(), Release: &ReleaseOutcome{Err: outcome.Stall(batonv1alpha1.ReleaseFailedReason, "the API server refused the release Job shop/p-release: spec.release.job.template.spec.containers[0].name: Invalid value")}},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ReleaseFailedReason, finished: true, envWritten: true, mentions: []string{"containers[0].name"}, check: untouched}},
		{"an annotation naming no container fails it",
			Input{Upstream: staging(), Promotion: p, Environment: env(withRelease(func(r *batonv1alpha1.ReleasePhase) {
				r.Job.Template.Annotations = map[string]string{batonv1alpha1.ReleaseContainerAnnotation: "db"}
			}))},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ReleaseFailedReason, finished: true, envWritten: true, mentions: []string{"release-container", `"db"`}, check: untouched}},
		{"a cancel is refused while the Job runs",
			Input{Upstream: staging(), Promotion: releasing(started(time.Minute), func(p *batonv1alpha1.Promotion) { p.Spec.Cancel = true }), Environment: env(), Release: found(running, "")},
			want{phase: batonv1alpha1.PromotionReleasing, check: func(t *testing.T, d Decision) {
				if c := findCondition(d.Status.Conditions, batonv1alpha1.ReconcilingCondition); c == nil || c.Reason != batonv1alpha1.CanceledReason || !strings.Contains(c.Message, "release Job") {
					t.Errorf("Reconciling = %+v", c)
				}
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			tc.want.assert(t, Decide(in))
		})
	}
}

func TestReleaseJob(t *testing.T) {
	p := promotion("p", batonv1alpha1.PromotionReleasing, func(p *batonv1alpha1.Promotion) { p.Status.Revision, p.Status.PreviousImage = 2, web1 })
	env := production(withRelease(func(r *batonv1alpha1.ReleasePhase) {
		r.Job.Template.Annotations = map[string]string{batonv1alpha1.ReleaseContainerAnnotation: "migrate"}
		r.Job.Template.Spec.Containers = append([]corev1.Container{{Name: "proxy", Image: "reg.example.com/proxy:1",
			Env: []corev1.EnvVar{{Name: "BATON_IMAGE", Value: "forged"}, {Name: "DB", Value: "main"}}}}, r.Job.Template.Spec.Containers...)
	}))
	job, err := release.BuildJob(env, release.Subject{Promotion: p, Image: web2})
	if err != nil {
		t.Fatal(err)
	}
	cs := job.Spec.Template.Spec.Containers
	if cs[0].Image != "reg.example.com/proxy:1" || cs[1].Image != web2 {
		t.Errorf("images %q, %q: the annotated container runs the promoted image, the other its own", cs[0].Image, cs[1].Image)
	}
	want := map[string]string{"BATON_ENVIRONMENT": "production", "BATON_NAMESPACE": "shop", "BATON_IMAGE": web2,
		"BATON_PREVIOUS_IMAGE": web1, "BATON_REVISION": "2", "BATON_PROMOTION": "p"}
	for _, c := range cs {
		got := map[string]string{}
		for _, e := range c.Env {
			got[e.Name] = e.Value
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("container %s: %s = %q, want %q", c.Name, k, got[k], v)
			}
		}
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever || job.Spec.Template.Annotations[release.ImageAnnotation] != web2 {
		t.Errorf("restartPolicy %q, Pod annotations %v", job.Spec.Template.Spec.RestartPolicy, job.Spec.Template.Annotations)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != p.UID {
		t.Errorf("controller %+v, want the Promotion", ref)
	}

	for name, want := range map[string]string{
		"p":                      "p-release",
		strings.Repeat("a", 55):  strings.Repeat("a", 55) + "-release",
		strings.Repeat("a", 56):  strings.Repeat("a", 46) + "-",
		strings.Repeat("b", 253): strings.Repeat("b", 46) + "-",
	} {
		got := release.JobName(name)
		if len(got) > 63 || !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "-release") {
			t.Errorf("JobName(%d chars) = %q (%d chars)", len(name), got, len(got))
		}
	}
	if release.JobName(strings.Repeat("a", 60)+"x") == release.JobName(strings.Repeat("a", 60)+"y") {
		t.Errorf("two long names share a release Job name")
	}
}
