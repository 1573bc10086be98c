package controllers

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/certs"
	"github.com/baton-dev/baton/internal/delivery"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/gitdelivery"
	"github.com/baton-dev/baton/internal/jobtemplate"
	"github.com/baton-dev/baton/internal/metrics"
	"github.com/baton-dev/baton/internal/release"
	"github.com/baton-dev/baton/internal/remote"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/internal/workload"
)

// Production in a cluster of its own: a second kube-apiserver and etcd,
// reached through a kubeconfig Secret whose user is bound to the Role in
// config/remote-cluster and to nothing else.
var _ = Describe("Environments in another cluster", Ordered, func() {
	var (
		ctx   context.Context
		other *testenv.Remote
	)

	BeforeAll(func() {
		var err error
		other, err = testenv.StartRemote()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(other.Stop()).To(Succeed()) })
	})
	// stopEngine stops the spec's Promotion engine, once.
	var stopEngine func()
	BeforeEach(func() {
		ctx = context.Background()
		stop := startPromotionManager(nil)
		var once sync.Once
		stopEngine = func() { once.Do(stop) }
		DeferCleanup(func() { stopEngine() })
	})

	// remoteStage is a stage whose production runs in the other cluster,
	// in a namespace of the same name, through Secret "prod-cluster".
	remoteStage := func(tune func(prod *batonv1alpha1.Environment)) *stage {
		GinkgoHelper()
		s := &stage{ns: newNamespace(ctx)}
		s.staging = builder.Environment(s.ns, "staging").Deployment("web-staging", "web").Direct().SoakTime(0).Build()
		s.production = builder.Environment(s.ns, "production").Upstream("staging").Deployment("web-production", "web").
			Cluster("prod-cluster").Direct().SoakTime(0).Build()
		if tune != nil {
			tune(s.production)
		}
		// The least the identity needs there: the Jobs Role only for an
		// Environment that runs Jobs.
		kubeconfigFor := other.KubeConfig
		if s.production.Spec.Release != nil || len(s.production.Spec.Verification.Checks) > 0 {
			kubeconfigFor = other.KubeConfigWithJobs
		}
		kubeconfig, err := kubeconfigFor(ctx, "baton-"+s.ns, s.ns)
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: kubeconfigMeta(s.ns),
			Data:       map[string][]byte{"value": kubeconfig},
		})).To(Succeed())
		s.stagingDep = builder.Deployment(s.ns, "web-staging").Replicas(2).Container("web", web1).Build()
		Expect(k8sClient.Create(ctx, s.stagingDep)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, s.stagingDep)).To(Succeed())
		s.prodDep = builder.Deployment(s.ns, "web-production").Replicas(2).Container("web", web1).Build()
		Expect(other.Client.Create(ctx, s.prodDep)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, other.Client, s.prodDep)).To(Succeed())

		Expect(k8sClient.Create(ctx, s.staging)).To(Succeed())
		Expect(k8sClient.Create(ctx, s.production)).To(Succeed())
		expectAdopted(ctx, s.staging, s.production)
		Expect(s.production.Status.Cluster).NotTo(BeNil())
		Expect(s.production.Status.Cluster.Server).To(Equal(strings.TrimSuffix(other.Config.Host, "/")))
		return s
	}
	// remoteRollout waits for the other cluster's Deployment to carry image,
	// then plays its controllers finishing the rollout.
	remoteRollout := func(d *appsv1.Deployment, image string) {
		GinkgoHelper()
		// A delivery that waited for the cluster retries within
		// remote.RetryAfter at the latest.
		Eventually(func(g Gomega) {
			g.Expect(other.Client.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(image))
		}, fmt.Sprint(remote.RetryAfter+15*time.Second)).Should(Succeed())
		Expect(testenv.RolloutComplete(ctx, other.Client, d)).To(Succeed())
	}
	// killAPIServer stops the other cluster's kube-apiserver; the returned
	// func starts it again, and runs at cleanup if the spec did not.
	killAPIServer := func() (restart func()) {
		GinkgoHelper()
		Expect(other.StopAPIServer()).To(Succeed())
		var once sync.Once
		restart = func() { once.Do(func() { Expect(other.StartAPIServer()).To(Succeed()) }) }
		DeferCleanup(restart)
		return restart
	}
	// expectUnreachable waits until the Environment says its cluster does
	// not answer, naming the API server.
	expectUnreachable := func(env *batonv1alpha1.Environment) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), env)).To(Succeed())
			ready := condition(env, batonv1alpha1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(batonv1alpha1.ClusterUnreachableReason))
			g.Expect(ready.Message).To(ContainSubstring(strings.TrimSuffix(other.Config.Host, "/")))
		}, "90s").Should(Succeed())
	}
	// expectWaiting waits until p waits in phase for the other cluster,
	// naming its API server.
	expectWaiting := func(p *batonv1alpha1.Promotion, phase batonv1alpha1.PromotionPhase) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Status.Phase).To(Equal(phase))
			g.Expect(readyReason(p)).To(Equal(batonv1alpha1.ClusterUnreachableReason))
			g.Expect(readyMessage(p)).To(ContainSubstring(strings.TrimSuffix(other.Config.Host, "/")))
		}, "60s").Should(Succeed())
	}
	generationOf := func(d *appsv1.Deployment) int64 {
		GinkgoHelper()
		Expect(other.Client.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		return d.Generation
	}
	// succeedsOnce plays production's rollout of web:2 and checks that the
	// Promotion patched once and made one history entry, with no gap.
	succeedsOnce := func(s *stage, p *batonv1alpha1.Promotion) {
		GinkgoHelper()
		remoteRollout(s.prodDep, web2)
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Expect(generationOf(s.prodDep)).To(Equal(int64(2)), "one patch")
		h := historyOf(ctx, s.production)
		Expect(h).To(HaveLen(2), "one history entry, no gap")
		Expect(h[1].Promotion).NotTo(BeNil())
		Expect(h[1].Promotion.Name).To(Equal(p.Name))
	}

	It("verifies in staging (here) and promotes to production (there), by a direct patch", func() {
		s := remoteStage(nil)
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		succeedsOnce(s, p)
		Expect(p.Status.Image).To(Equal(web2))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			g.Expect(verifiedImages(s.production)).To(ContainElement(web2), "production verifies what runs there")
		}).Should(Succeed())
	})

	It("verifies in staging (here) and promotes to production (there) by a Git commit, which the GitOps engine there applies", func() {
		srv := gitServer()
		repo := configRepo(srv)
		s := remoteStage(func(prod *batonv1alpha1.Environment) {
			prod.Spec.Delivery = batonv1alpha1.Delivery{Git: &batonv1alpha1.GitDelivery{
				URL: repo, Branch: "main", Path: "apps/web",
				Edit:      &batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{}},
				SecretRef: &batonv1alpha1.LocalObjectReference{Name: "app-git"},
			}}
		})
		sourceSecrets(ctx, s.ns)
		// An engine that delivers by Git too, instead of the direct-only one.
		stopEngine()
		stop := startPromotionManager(nil, engineTuning{engine: func(r *PromotionReconciler) {
			git := gitdelivery.New(r.APIReader, GinkgoT().TempDir(), gitdelivery.StaticKey("remote-git-mode-key"))
			git.Network = batongit.Network{PlainHTTPHosts: []string{"127.0.0.1"}}
			done := make(chan event.GenericEvent)
			git.Notify, r.DeliveryDone = NotifyOn(done), done
			r.Deliverer = Deliverers(&delivery.Direct{Workloads: &remote.Workloads{
				Local: workload.NewLocal(r.Client, r.APIReader), Clusters: suiteClusters}}, git)
		}})
		DeferCleanup(stop)
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
		Expect(p.Status.Commit).NotTo(BeEmpty())
		Expect(readFile(repo, "apps/web/kustomization.yaml")).To(ContainSubstring(`newTag: "2"`))
		Expect(generationOf(s.prodDep)).To(Equal(int64(1)), "in git mode Baton changes nothing there")

		By("the GitOps engine of the other cluster applies the commit")
		Expect(other.Client.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
		s.prodDep.Spec.Template.Spec.Containers[0].Image = web2
		Expect(other.Client.Update(ctx, s.prodDep)).To(Succeed())
		remoteRollout(s.prodDep, web2)
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		h := historyOf(ctx, s.production)
		Expect(h).To(HaveLen(2))
		Expect(h[1].Commit).To(Equal(p.Status.Commit))
		Expect(h[1].Result).To(Equal(batonv1alpha1.RevisionSucceeded))
	})

	It("rolls back in the other cluster", func() {
		s := remoteStage(nil)
		s.shipToStaging(ctx, web2)
		succeedsOnce(s, s.promotion(ctx, "production", "to-prod-", "", nil))
		rb := builder.Promotion(s.ns, "").GenerateName("rollback-").Environment("production").RequestedBy("alice").Build()
		rb.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: 1}
		rb.Spec.Reason = "web:2 breaks checkout in production"
		Expect(k8sClient.Create(ctx, admitted(rb))).To(Succeed())
		remoteRollout(s.prodDep, web1)
		expectPhase(ctx, rb, batonv1alpha1.PromotionSucceeded)
		Expect(historyOf(ctx, s.production)).To(HaveLen(3))
		Expect(s.production.Status.Current.Image).To(Equal(web1))
	})

	It("records drift in the other cluster", func() {
		s := remoteStage(nil)
		Expect(other.Client.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
		s.prodDep.Spec.Template.Spec.Containers[0].Image = web3
		Expect(other.Client.Update(ctx, s.prodDep)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, other.Client, s.prodDep)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			g.Expect(s.production.Status.History).To(HaveLen(2))
			last := s.production.Status.History[len(s.production.Status.History)-1]
			g.Expect(last.Image).To(Equal(web3))
			g.Expect(last.Result).To(Equal(batonv1alpha1.RevisionExternal), "a change without a Promotion")
			drifted := condition(s.production, batonv1alpha1.DriftedCondition)
			g.Expect(drifted).NotTo(BeNil())
			g.Expect(drifted.Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
	})

	It("waits, saying why, while the other API server is down before delivery, then patches once", func() {
		s := remoteStage(nil)
		s.shipToStaging(ctx, web2)
		restart := killAPIServer()
		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		expectWaiting(p, batonv1alpha1.PromotionPromoting)
		expectUnreachable(s.production)
		restart()
		succeedsOnce(s, p)
	})

	It("keeps the lease of a delivered Promotion while the other API server is down mid-rollout: one patch, one history entry", func() {
		s := remoteStage(nil)
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
		up := metrics.RemoteClusterUp.WithLabelValues(s.ns, "prod-cluster")
		Expect(testutil.ToFloat64(up)).To(Equal(1.0), "baton_remote_cluster_up")
		restart := killAPIServer()
		expectUnreachable(s.production)
		Expect(testutil.ToFloat64(up)).To(Equal(0.0), "baton_remote_cluster_up while it is away")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionRollingOut), "it keeps the lease and waits for the rollout")
		Expect(s.production.Status.ActivePromotion).NotTo(BeNil())
		Expect(s.production.Status.ActivePromotion.Name).To(Equal(p.Name))

		restart()
		succeedsOnce(s, p)
		Expect(testutil.ToFloat64(up)).To(Equal(1.0), "baton_remote_cluster_up once it answers")
	})

	It("times a delivered Promotion out as usual when the other cluster does not come back, saying why", func() {
		s := remoteStage(func(prod *batonv1alpha1.Environment) {
			prod.Spec.Rollout.Timeout = &metav1.Duration{Duration: time.Minute}
		})
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
		killAPIServer()
		// Past spec.rollout.timeout by the engine's clock; the Environment
		// saying its cluster is away wakes the Promotion.
		fakeClock.Step(2 * time.Minute)
		expectUnreachable(s.production)
		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.RolloutTimeoutReason))
		Expect(readyMessage(p)).To(ContainSubstring("cannot reach the API server " + strings.TrimSuffix(other.Config.Host, "/")))
		h := historyOf(ctx, s.production)
		Expect(h).To(HaveLen(2))
		Expect(h[1].Result).To(Equal(batonv1alpha1.RevisionFailed))
		Expect(s.production.Status.ActivePromotion).To(BeNil(), "the lease is released")
	})

	// remoteJobs are the Jobs there, in ns, with labels.
	remoteJobs := func(g Gomega, ns string, labels client.MatchingLabels) []batchv1.Job {
		jobs := &batchv1.JobList{}
		g.Expect(other.Client.List(ctx, jobs, client.InNamespace(ns), labels)).To(Succeed())
		return jobs.Items
	}
	// theRemoteRelease is the one release Job of p there, once Baton
	// created it, placed as a Job with no owner in that cluster.
	theRemoteRelease := func(s *stage, p *batonv1alpha1.Promotion) *batchv1.Job {
		GinkgoHelper()
		job := &batchv1.Job{}
		Eventually(func(g Gomega) {
			jobs := remoteJobs(g, s.ns, client.MatchingLabels{release.EnvironmentLabel: "production", release.PromotionUIDLabel: string(p.UID)})
			g.Expect(jobs).To(HaveLen(1))
			*job = jobs[0]
		}, fmt.Sprint(remote.RetryAfter+15*time.Second)).Should(Succeed())
		Expect(job.Name).To(Equal(p.Name + "-release"))
		Expect(job.Labels).To(HaveKeyWithValue(jobtemplate.EnvironmentNamespaceLabel, s.ns))
		Expect(job.OwnerReferences).To(BeEmpty(), "its Promotion lives in another cluster")
		Expect(job.Spec.TTLSecondsAfterFinished).To(HaveValue(Equal(jobtemplate.RemoteTTL)))
		return job
	}

	It("runs the release Job in the other cluster, next to the workload, then patches once", func() {
		s := remoteStage(withMigration)
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "migrate-", "", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionReleasing)
		job := theRemoteRelease(s, p)
		Expect(job.Spec.Template.Spec.Containers[0].Image).To(Equal(web2))
		Expect(job.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "BATON_PREVIOUS_IMAGE", Value: web1}))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Status.Release).NotTo(BeNil())
			g.Expect(p.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseRunning))
		}).Should(Succeed())
		Eventually(func(g Gomega) { g.Expect(releaseJobs(ctx, g, s.production)).To(BeEmpty()) }).Should(Succeed(), "no Job in the management cluster")
		Expect(generationOf(s.prodDep)).To(Equal(int64(1)), "no workload changes while the release runs")

		By("delivering once the Job there succeeds: its end is an event of that cluster's cache")
		finishJobIn(ctx, other.Client, job, true, "", "")
		succeedsOnce(s, p)
		Expect(p.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseSucceeded))
	})

	It("fails a release whose Job there fails, quoting its Pod there, and changes nothing", func() {
		s := remoteStage(withMigration)
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "migrate-", "", nil)
		job := theRemoteRelease(s, p)
		finishJobIn(ctx, other.Client, job, false, "BackoffLimitExceeded", `relation "orders" already exists`)
		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.ReleaseFailedReason))
		Expect(readyMessage(p)).To(And(ContainSubstring("BackoffLimitExceeded"), ContainSubstring(`relation \"orders\" already exists`)))
		Expect(generationOf(s.prodDep)).To(Equal(int64(1)))
	})

	It("never adopts a Job there that another namespace's Environment would own", func() {
		s := remoteStage(withMigration)
		s.shipToStaging(ctx, web2)
		stopEngine()
		p := s.promotion(ctx, "production", "migrate-", "", nil)
		By("a finished Job with the Promotion's name and UID, labelled for Environment production of another namespace")
		forged := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: p.Name + "-release", Labels: map[string]string{
				release.EnvironmentLabel: "production", release.PromotionUIDLabel: string(p.UID),
				jobtemplate.EnvironmentNamespaceLabel: "someone-else",
			}},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "migrate", Image: web2}}}}},
		}
		Expect(other.Client.Create(ctx, forged)).To(Succeed())
		finishJobIn(ctx, other.Client, forged, true, "", "")
		DeferCleanup(startPromotionManager(nil))
		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.ReleaseFailedReason))
		Expect(readyMessage(p)).To(And(ContainSubstring("is not the release Job Baton created"),
			ContainSubstring(jobtemplate.EnvironmentNamespaceLabel+` is "someone-else"`)))
		Expect(generationOf(s.prodDep)).To(Equal(int64(1)), "a forged success delivers nothing")
	})

	It("waits in Releasing, saying why, while the other API server is down, then runs the Job once", func() {
		s := remoteStage(withMigration)
		s.shipToStaging(ctx, web2)
		restart := killAPIServer()
		p := s.promotion(ctx, "production", "migrate-", "", nil)
		expectWaiting(p, batonv1alpha1.PromotionReleasing)
		restart()
		job := theRemoteRelease(s, p)
		finishJobIn(ctx, other.Client, job, true, "", "")
		succeedsOnce(s, p)
		Eventually(func(g Gomega) {
			g.Expect(remoteJobs(g, s.ns, client.MatchingLabels{release.EnvironmentLabel: "production"})).To(HaveLen(1), "one release Job")
		}).Should(Succeed())
	})

	It("keeps spec.historyLimit release Jobs there, and never deletes another namespace's", func() {
		s := remoteStage(func(prod *batonv1alpha1.Environment) {
			withMigration(prod)
			prod.Spec.HistoryLimit = 1
		})
		theirs := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "theirs-release", Labels: map[string]string{
				release.EnvironmentLabel: "production", release.PromotionUIDLabel: "0f0f0f0f-0000-0000-0000-000000000000",
				jobtemplate.EnvironmentNamespaceLabel: "someone-else",
			}},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "migrate", Image: web1}}}}},
		}
		Expect(other.Client.Create(ctx, theirs)).To(Succeed())
		finishJobIn(ctx, other.Client, theirs, true, "", "")

		var first *batchv1.Job
		for i, image := range []string{web2, web3} {
			s.shipToStaging(ctx, image)
			p := s.promotion(ctx, "production", "migrate-", image, nil)
			job := theRemoteRelease(s, p)
			if i == 0 {
				first = job
			}
			finishJobIn(ctx, other.Client, job, true, "", "")
			remoteRollout(s.prodDep, image)
			expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		}
		Eventually(func(g Gomega) {
			jobs := remoteJobs(g, s.ns, client.MatchingLabels{release.EnvironmentLabel: "production", jobtemplate.EnvironmentNamespaceLabel: s.ns})
			g.Expect(jobs).To(HaveLen(1))
			g.Expect(jobs[0].UID).NotTo(Equal(first.UID), "the older release Job is deleted")
		}).Should(Succeed())
		Expect(other.Client.Get(ctx, client.ObjectKeyFromObject(theirs), theirs)).To(Succeed(), "another namespace's Job is not Baton's to prune")
	})

	It("runs a job check in the other cluster and fails it with the Pod's termination message there", func() {
		s := remoteStage(func(prod *batonv1alpha1.Environment) {
			prod.Spec.Verification.Checks = []batonv1alpha1.VerificationCheck{smokeCheck("registry.example.com/smoke:1")}
		})
		var job batchv1.Job
		Eventually(func(g Gomega) {
			jobs := remoteJobs(g, s.ns, client.MatchingLabels{verification.JobEnvironmentLabel: "production", verification.JobCheckLabel: "smoke"})
			g.Expect(jobs).To(HaveLen(1))
			job = jobs[0]
		}).Should(Succeed())
		Expect(job.Labels).To(HaveKeyWithValue(jobtemplate.EnvironmentNamespaceLabel, s.ns))
		Expect(job.OwnerReferences).To(BeEmpty())
		Expect(job.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "BATON_IMAGE", Value: web1}))
		Eventually(func(g Gomega) {
			jobs := &batchv1.JobList{}
			g.Expect(k8sClient.List(ctx, jobs, client.InNamespace(s.ns), client.MatchingLabels{verification.JobEnvironmentLabel: "production"})).To(Succeed())
			g.Expect(jobs.Items).To(BeEmpty(), "no Job in the management cluster")
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			g.Expect(s.production.Status.Verification.Checks).To(HaveLen(1))
			g.Expect(s.production.Status.Verification.Checks[0].Reason).To(Equal(batonv1alpha1.CheckPendingReason))
		}).Should(Succeed())

		finishJobIn(ctx, other.Client, &job, false, "BackoffLimitExceeded", "GET /checkout answered 500")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			cs := s.production.Status.Verification.Checks[0]
			g.Expect(cs.Verdict).To(Equal(batonv1alpha1.CheckFail), cs.Message)
			g.Expect(cs.Message).To(And(ContainSubstring("Job "+job.Name+" failed (BackoffLimitExceeded"), ContainSubstring("GET /checkout answered 500")))
			g.Expect(s.production.Status.VerifiedImages).To(BeEmpty())
		}).Should(Succeed())
	})

	It("shares one cache between two Environments that use one cluster, and stops it with the last", func() {
		ns := newNamespace(ctx)
		kubeconfig, err := other.KubeConfig(ctx, "baton-"+ns, ns)
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: kubeconfigMeta(ns),
			Data:       map[string][]byte{"value": kubeconfig},
		})).To(Succeed())
		before := suiteClusters.Caches()
		var envs []*batonv1alpha1.Environment
		for _, app := range []string{"web", "api"} {
			d := builder.Deployment(ns, app).Replicas(1).Container("web", web1).Build()
			Expect(other.Client.Create(ctx, d)).To(Succeed())
			Expect(testenv.RolloutComplete(ctx, other.Client, d)).To(Succeed())
			env := builder.Environment(ns, app+"-production").Deployment(app, "web").Cluster("prod-cluster").Direct().Build()
			Expect(k8sClient.Create(ctx, env)).To(Succeed())
			envs = append(envs, env)
		}
		expectAdopted(ctx, envs...)
		Expect(suiteClusters.Caches()).To(Equal(before+1), "one cache for both")
		Expect(k8sClient.Delete(ctx, envs[0])).To(Succeed())
		Eventually(suiteClusters.Caches).Should(Equal(before + 1))
		Expect(k8sClient.Delete(ctx, envs[1])).To(Succeed())
		Eventually(suiteClusters.Caches).Should(Equal(before), "the cache stops with its last Environment")
	})

	It("needs no more there than config/remote-cluster's Role, which grants no more", func() {
		ns := newNamespace(ctx)
		kubeconfig, err := other.KubeConfig(ctx, "baton-"+ns, ns)
		Expect(err).NotTo(HaveOccurred())
		cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		as, err := client.New(cfg, client.Options{Scheme: k8sClient.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		Expect(as.List(ctx, &appsv1.DeploymentList{}, client.InNamespace(ns))).To(Succeed())
		Expect(as.List(ctx, &corev1.PodList{}, client.InNamespace(ns))).To(Succeed())
		for what, err := range map[string]error{
			"read a Secret":                 as.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)),
			"create a Deployment":           as.Create(ctx, builder.Deployment(ns, "mallory").Container("web", web1).Build()),
			"list Deployments elsewhere":    as.List(ctx, &appsv1.DeploymentList{}, client.InNamespace("default")),
			"list Deployments cluster-wide": as.List(ctx, &appsv1.DeploymentList{}),
			"delete a Pod":                  as.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns)),
		} {
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the Role lets Baton %s: %v", what, err)
		}
	})

	// lonelyWorkload creates Deployment web in namespace ns of the other
	// cluster (created when missing) and an Environment for it through
	// Secret "prod-cluster", which the caller provides, or not.
	lonelyWorkload := func(ns string) *batonv1alpha1.Environment {
		GinkgoHelper()
		if err := other.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "create namespace %s there: %v", ns, err)
		}
		d := builder.Deployment(ns, "web").Replicas(1).Container("web", web1).Build()
		Expect(other.Client.Create(ctx, d)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, other.Client, d)).To(Succeed())
		env := builder.Environment(ns, "production").Deployment("web", "web").Cluster("prod-cluster").Direct().Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		return env
	}
	// expectStalled waits for the Environment's Stalled reason and returns
	// the condition.
	expectStalled := func(env *batonv1alpha1.Environment, reason string) *metav1.Condition {
		GinkgoHelper()
		var stalled *metav1.Condition
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), env)).To(Succeed())
			stalled = condition(env, batonv1alpha1.StalledCondition)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(reason))
		}, "60s").Should(Succeed())
		return stalled
	}

	It("notices a kubeconfig Secret created after its Environment", func() {
		ns := newNamespace(ctx)
		kubeconfig, err := other.KubeConfig(ctx, "baton-"+ns, ns)
		Expect(err).NotTo(HaveOccurred())
		env := lonelyWorkload(ns)
		expectStalled(env, batonv1alpha1.KubeConfigNotFoundReason)
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: kubeconfigMeta(ns), Data: kubeconfigData(kubeconfig)})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), env)).To(Succeed())
			g.Expect(env.Status.History).To(HaveLen(1), "conditions: %+v", env.Status.Conditions)
		}, fmt.Sprint(remote.RetryAfter+20*time.Second)).Should(Succeed(), "the manager does not watch Secrets: it looks again after remote.RetryAfter")
	})

	It("picks up a rotated kubeconfig Secret without a restart", func() {
		ns := newNamespace(ctx)
		By("a user bound to nothing in the namespace")
		unbound, err := other.KubeConfig(ctx, "unbound-"+ns)
		Expect(err).NotTo(HaveOccurred())
		secret := &corev1.Secret{ObjectMeta: kubeconfigMeta(ns), Data: map[string][]byte{"value": unbound}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		env := lonelyWorkload(ns)
		stalled := expectStalled(env, batonv1alpha1.WorkloadNotAuthorizedReason)
		Expect(stalled.Message).To(And(ContainSubstring("config/remote-cluster"), ContainSubstring(ns)))
		By("the Secret is rotated to a user bound to the Role")
		bound, err := other.KubeConfig(ctx, "bound-"+ns, ns)
		Expect(err).NotTo(HaveOccurred())
		secret.Data["value"] = bound
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), env)).To(Succeed())
			g.Expect(env.Status.History).To(HaveLen(1), "conditions: %+v", env.Status.Conditions)
			g.Expect(condition(env, batonv1alpha1.StalledCondition)).To(BeNil())
		}, fmt.Sprint(remote.RetryAfter+20*time.Second)).Should(Succeed(), "read again at the next retry, as the old identity is refused")
	})

	// Each kubeconfig that cannot be used: a specific reason, a message
	// that names the Secret or the server and no credential, and the
	// workload untouched by the Promotion that tried.
	DescribeTable("refuses a kubeconfig it cannot use, touching nothing",
		func(reason, message string, kubeconfig func(good []byte, ns string) map[string][]byte) {
			ns := newNamespace(ctx)
			good, err := other.KubeConfig(ctx, "baton-"+ns, ns)
			Expect(err).NotTo(HaveOccurred())
			if data := kubeconfig(good, ns); data != nil {
				meta := kubeconfigMeta(ns)
				if data["unlabelled"] != nil {
					delete(data, "unlabelled")
					meta.Labels = nil
				}
				Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: meta, Data: data})).To(Succeed())
			}
			env := lonelyWorkload(ns)
			msg := expectStalled(env, reason).Message
			Expect(msg).To(ContainSubstring(message))
			expectNoCredentials(msg, good)

			p := builder.Promotion(ns, "").GenerateName("to-prod-").Environment("production").Image(web2).RequestedBy("alice").Build()
			Expect(k8sClient.Create(ctx, admitted(p))).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
				g.Expect(readyReason(p)).To(Equal(reason), "conditions: %+v", p.Status.Conditions)
			}, "60s").Should(Succeed())
			expectNoCredentials(readyMessage(p), good)
			d := &appsv1.Deployment{}
			Expect(other.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, d)).To(Succeed())
			Expect(d.Generation).To(Equal(int64(1)), "the workload is untouched")
			Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(web1))
			Expect(execMarker).NotTo(BeAnExistingFile(), "the kubeconfig's program never ran")
		},
		Entry("a kubeconfig with exec", batonv1alpha1.KubeConfigExecRefusedReason, "--insecure-kubeconfig-exec",
			func(good []byte, _ string) map[string][]byte {
				return kubeconfigData(editKubeconfig(good, func(c *clientcmdapi.Config) {
					for _, u := range c.AuthInfos {
						u.ClientCertificateData, u.ClientKeyData = nil, nil
						u.Exec = &clientcmdapi.ExecConfig{Command: "/bin/sh", APIVersion: "client.authentication.k8s.io/v1",
							Args: []string{"-c", "touch " + execMarker + "; cat /var/run/secrets/kubernetes.io/serviceaccount/token"}}
					}
				}))
			}),
		Entry("a kubeconfig with a bad CA", batonv1alpha1.ClusterNotTrustedReason, "certificate-authority-data",
			func(good []byte, _ string) map[string][]byte {
				return kubeconfigData(editKubeconfig(good, func(c *clientcmdapi.Config) {
					for _, cl := range c.Clusters {
						cl.CertificateAuthorityData = otherCA()
					}
				}))
			}),
		Entry("a missing Secret", batonv1alpha1.KubeConfigNotFoundReason, "Secret ",
			func([]byte, string) map[string][]byte { return nil }),
		Entry("a kubeconfig Secret not meant for Baton (Flux's, say)", batonv1alpha1.KubeConfigInvalidReason, "lacks the label promotion.baton.dev/credentials=true",
			func(good []byte, _ string) map[string][]byte {
				return map[string][]byte{"value": good, "unlabelled": []byte("y")}
			}),
		Entry("a Secret without the key", batonv1alpha1.KubeConfigKeyNotFoundReason, `no key "value"`,
			func(good []byte, _ string) map[string][]byte { return map[string][]byte{"kubeconfig": good} }),
		Entry("an unreachable address", batonv1alpha1.ClusterUnreachableReason, "cannot reach the API server https://127.0.0.1:",
			func(good []byte, _ string) map[string][]byte {
				return kubeconfigData(editKubeconfig(good, func(c *clientcmdapi.Config) {
					for _, cl := range c.Clusters {
						cl.Server = "https://" + closedAddress()
					}
				}))
			}),
		Entry("TLS verification turned off", batonv1alpha1.KubeConfigInvalidReason, "insecure-skip-tls-verify",
			func(good []byte, _ string) map[string][]byte {
				return kubeconfigData(editKubeconfig(good, func(c *clientcmdapi.Config) {
					for _, cl := range c.Clusters {
						cl.CertificateAuthorityData, cl.InsecureSkipTLSVerify = nil, true
					}
				}))
			}),
		Entry("a plain-http server", batonv1alpha1.KubeConfigInvalidReason, "is not https://",
			func(good []byte, _ string) map[string][]byte {
				return kubeconfigData(editKubeconfig(good, func(c *clientcmdapi.Config) {
					for _, cl := range c.Clusters {
						cl.Server = strings.Replace(cl.Server, "https://", "http://", 1)
					}
				}))
			}),
		Entry("the manager's own token file", batonv1alpha1.KubeConfigInvalidReason, "tokenFile names a file on the manager's disk",
			func(good []byte, _ string) map[string][]byte {
				return kubeconfigData(editKubeconfig(good, func(c *clientcmdapi.Config) {
					for _, u := range c.AuthInfos {
						u.ClientCertificateData, u.ClientKeyData = nil, nil
						u.TokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
					}
				}))
			}),
		Entry("not a kubeconfig", batonv1alpha1.KubeConfigInvalidReason, "does not parse",
			func([]byte, string) map[string][]byte { return map[string][]byte{"value": []byte("{not yaml: [")} }),
	)
})

// configRepo is a config repository on srv with apps/web, a kustomization
// that runs registry.example.com/web:1; it returns its URL.
func configRepo(srv *gittestserver.GitServer) string {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	Expect(os.MkdirAll(filepath.Join(dir, "apps", "web"), 0o755)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "apps", "web", "kustomization.yaml"), []byte(
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml\nimages:\n- name: registry.example.com/web\n  newTag: \"1\"\n"), 0o644)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "apps", "web", "deployment.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-production\n"), 0o644)).To(Succeed())
	name := fmt.Sprintf("config-%d.git", appRepoSeq.Add(1))
	Expect(srv.InitRepo(dir, "main", name)).To(Succeed())
	return srv.HTTPAddress() + "/" + name
}

// readFile reads a file at the head of main of the repository.
func readFile(url, path string) string {
	GinkgoHelper()
	r, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: url, ReferenceName: "refs/heads/main",
		Auth: &githttp.BasicAuth{Username: appGitUser, Password: appGitPassword}})
	Expect(err).NotTo(HaveOccurred())
	wt, err := r.Worktree()
	Expect(err).NotTo(HaveOccurred())
	f, err := wt.Filesystem.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(f)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// kubeconfigMeta is Secret "prod-cluster", labelled for Baton.
func kubeconfigMeta(ns string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: "prod-cluster", Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}}
}

// execMarker is the file the exec plugin of the refused kubeconfig would
// create, had it run.
var execMarker = filepath.Join(os.TempDir(), fmt.Sprintf("baton-exec-ran-%d", os.Getpid()))

func kubeconfigData(data []byte) map[string][]byte { return map[string][]byte{"value": data} }

// editKubeconfig changes a kubeconfig and writes it back.
func editKubeconfig(data []byte, edit func(*clientcmdapi.Config)) []byte {
	GinkgoHelper()
	cfg, err := clientcmd.Load(data)
	Expect(err).NotTo(HaveOccurred())
	edit(cfg)
	out, err := clientcmd.Write(*cfg)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// otherCA is a CA certificate that signed nothing the API server has.
func otherCA() []byte {
	GinkgoHelper()
	ca, err := certs.NewCA("not the API server's CA", time.Hour)
	Expect(err).NotTo(HaveOccurred())
	return ca.Cert
}

// closedAddress is a loopback address nothing listens on.
func closedAddress() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return addr
}

// expectNoCredentials: a message carries none of the kubeconfig's
// certificates, keys or tokens, raw or base64.
func expectNoCredentials(msg string, kubeconfig []byte) {
	GinkgoHelper()
	cfg, err := clientcmd.Load(kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	for name, u := range cfg.AuthInfos {
		for _, secret := range [][]byte{u.ClientKeyData, u.ClientCertificateData, []byte(u.Token)} {
			if len(secret) == 0 {
				continue
			}
			Expect(msg).NotTo(ContainSubstring(string(secret[:min(len(secret), 40)])), "user %s", name)
			Expect(msg).NotTo(ContainSubstring(base64.StdEncoding.EncodeToString(secret)[:40]), "user %s", name)
		}
	}
	Expect(msg).NotTo(ContainSubstring("PRIVATE KEY"))
}
