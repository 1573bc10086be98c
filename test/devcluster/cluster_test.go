//go:build e2e

package devcluster

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestClusterUpAndDown starts the dev cluster the way `make dev-cluster` does,
// on its own ports, and checks what a developer relies on: real users, real
// rollouts, a broken image that really fails, and a shutdown that leaves
// nothing behind.
func TestClusterUpAndDown(t *testing.T) {
	g := NewWithT(t)
	root := repoRoot(t)
	assets, clusterBin := binDirs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	tool := filepath.Join(t.TempDir(), "cluster")
	run(t, ctx, root, nil, "go", "build", "-o", tool, "./hack/dev/cluster")
	dir := t.TempDir()
	base := portBase(t, 0)
	clusterCtx := func(ctx context.Context, args ...string) string {
		return run(t, ctx, root, nil, tool, append([]string{"--dir", dir, "--port-base", strconv.Itoa(base),
			"--assets-dir", assets, "--cluster-bin-dir", clusterBin, "--tools-dir", filepath.Join(root, "hack", "tools")}, args...)...)
	}
	cluster := func(args ...string) string { return clusterCtx(ctx, args...) }
	stopped := false
	t.Cleanup(func() { // runs after the deferred cancel, so with its own context
		defer killLeftovers(t, dir) // even if the command below fails the test
		if !stopped {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			clusterCtx(ctx, "down")
		}
	})

	start := time.Now()
	cluster("up")
	t.Logf("MEASURED cluster start: %s", time.Since(start).Round(100*time.Millisecond))

	pids := processesUnder(dir)
	g.Expect(pids).To(HaveLen(5), "etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")
	addrs := listeners(t, pids)
	g.Expect(addrs).NotTo(BeEmpty())
	for _, a := range addrs {
		g.Expect(a).To(HavePrefix("127.0.0.1:"), "every port binds 127.0.0.1 only")
	}
	t.Logf("listening: %v", addrs)

	// Running up again is a no-op that keeps the same processes.
	out := cluster("up")
	g.Expect(strings.Count(out, "already running")).To(Equal(5))
	g.Expect(processesUnder(dir)).To(Equal(pids))

	admin := kubernetes.NewForConfigOrDie(restConfig(t, dir, "admin"))

	t.Run("each kubeconfig authenticates as its user", func(t *testing.T) {
		g := NewWithT(t)
		for _, u := range users {
			cs := kubernetes.NewForConfigOrDie(restConfig(t, dir, u))
			review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred(), u)
			g.Expect(review.Status.UserInfo.Username).To(Equal(u))
			if u == "admin" {
				g.Expect(review.Status.UserInfo.Groups).To(ContainElement("system:masters"))
			} else {
				g.Expect(review.Status.UserInfo.Groups).NotTo(ContainElement("system:masters"))
			}
		}
		// RBAC is on: carol, granted nothing in a bare cluster, is refused.
		carol := kubernetes.NewForConfigOrDie(restConfig(t, dir, "carol"))
		_, err := carol.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "carol listing secrets: %v", err)
	})

	t.Run("a Deployment rolls out and a broken image exceeds its progress deadline", func(t *testing.T) {
		g := NewWithT(t)
		deploy := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: appsv1.DeploymentSpec{
				Replicas:                ptr.To[int32](3),
				ProgressDeadlineSeconds: ptr.To[int32](15),
				Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{
						{Name: "web", Image: "registry.example.com/web:1.0.0"},
					}},
				},
			},
		}
		_, err := admin.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		rolledOut := time.Now()
		g.Eventually(func(g Gomega) {
			d, err := admin.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
			g.Expect(d.Status.UpdatedReplicas).To(Equal(int32(3)))
			g.Expect(d.Status.AvailableReplicas).To(Equal(int32(3)))
		}).WithTimeout(90 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
		t.Logf("MEASURED 3/3 available after %s", time.Since(rolledOut).Round(100*time.Millisecond))
		pods, err := admin.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pods.Items).To(HaveLen(3))
		for _, p := range pods.Items {
			g.Expect(p.Spec.NodeName).To(Equal("kwok-node-0"), "scheduled by kube-scheduler onto kwok's node")
		}

		d, err := admin.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		d.Spec.Template.Spec.Containers[0].Image = "registry.example.com/web:broken"
		_, err = admin.AppsV1().Deployments("default").Update(ctx, d, metav1.UpdateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Eventually(func(g Gomega) {
			d, err := admin.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			i := slices.IndexFunc(d.Status.Conditions, func(c appsv1.DeploymentCondition) bool {
				return c.Type == appsv1.DeploymentProgressing
			})
			g.Expect(i).To(BeNumerically(">=", 0))
			g.Expect(d.Status.Conditions[i].Reason).To(Equal("ProgressDeadlineExceeded"))
			g.Expect(d.Status.Conditions[i].Status).To(Equal(corev1.ConditionFalse))
			// The old Pods keep serving; none of the new ones is Ready.
			g.Expect(d.Status.AvailableReplicas).To(BeNumerically(">=", 2))
		}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		pods, err = admin.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		g.Expect(err).NotTo(HaveOccurred())
		broken := 0
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image != "registry.example.com/web:broken" {
				continue
			}
			broken++
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					g.Expect(c.Status).To(Equal(corev1.ConditionFalse), "pod %s", p.Name)
				}
			}
		}
		g.Expect(broken).To(BeNumerically(">=", 1))
	})

	t.Run("a Job's Pod completes, and fails with a termination message when the image under test ends in -smoke-fails", func(t *testing.T) {
		for _, tc := range []struct {
			name, image, underTest string
			fails                  bool
		}{
			{"smoke-pass", "registry.example.com/smoke:1", "registry.example.com/web:1.0.0", false},
			{"smoke-plain-pass", "registry.example.com/smoke:1", "", false},
			{"smoke-annotated-fails", "registry.example.com/smoke:1", "registry.example.com/web:2-smoke-fails", true},
			{"smoke-image-fails", "registry.example.com/smoke:1-smoke-fails", "", true},
		} {
			g := NewWithT(t)
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: "default"},
				Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "smoke", Image: tc.image}},
				}}},
			}
			if tc.underTest != "" {
				// What Baton's job checks put on their Pods.
				job.Spec.Template.Annotations = map[string]string{"promotion.baton.dev/image": tc.underTest}
			}
			_, err := admin.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			want := batchv1.JobComplete
			if tc.fails {
				want = batchv1.JobFailed
			}
			g.Eventually(func(g Gomega) {
				j, err := admin.BatchV1().Jobs("default").Get(ctx, tc.name, metav1.GetOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(j.Status.Conditions).To(ContainElement(And(HaveField("Type", want), HaveField("Status", corev1.ConditionTrue))), "%s", tc.name)
			}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
			pods, err := admin.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + tc.name})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(HaveLen(1))
			term := pods.Items[0].Status.ContainerStatuses[0].State.Terminated
			g.Expect(term).NotTo(BeNil())
			if tc.fails {
				g.Expect(term.ExitCode).To(Equal(int32(1)))
				g.Expect(term.Message).To(Equal("smoke test failed: the image under test ends in -smoke-fails"))
			} else {
				g.Expect(term.ExitCode).To(Equal(int32(0)))
			}
		}
	})

	t.Logf("MEASURED cluster RSS: %d MiB over %d processes", rssMiB(processesUnder(dir)), len(processesUnder(dir)))

	start = time.Now()
	cluster("down")
	stopped = true
	t.Logf("MEASURED cluster stop: %s", time.Since(start).Round(100*time.Millisecond))
	assertAllGone(t, dir, addrs)
}
