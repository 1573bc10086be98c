package identity_test

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
)

// An Environment with spec.cluster runs its Jobs in that cluster: the
// webhook dry-runs them there, with the kubeconfig Baton is given, and
// admits with a Warning, after a dry run here, when that cluster cannot
// judge them.
var _ = Describe("The Jobs of an Environment in another cluster are dry-run there", Ordered, func() {
	ctx := context.Background()
	var (
		other  *testenv.Remote
		ns     string
		jill   client.Client
		warned = &warnings{}
	)

	BeforeAll(func() {
		var err error
		other, err = testenv.StartRemote()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(other.Stop()).To(Succeed()) })
		for name, rules := range map[string][]rbacv1.PolicyRule{
			"test-environment-editor": {{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"environments"},
				Verbs: []string{"get", "list", "create", "update", "patch"}}},
			"test-job-creator": {{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create"}}},
		} {
			err := admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules})
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		}
		u, err := testEnv.AddUser(envtest.User{Name: "jill-remote", Groups: []string{"developers"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		cfg := u.Config()
		cfg.WarningHandler = warned
		jill, err = client.New(cfg, client.Options{Scheme: testEnv.Scheme})
		Expect(err).NotTo(HaveOccurred())
	})

	BeforeEach(func() {
		var err error
		ns, err = testEnv.BindUsers(ctx, "remote-", map[string][]string{"jill-remote": {"test-environment-editor", "test-job-creator"}})
		Expect(err).NotTo(HaveOccurred())
		waitWebhookActive(ctx, ns)
		warned.take()
	})

	// kubeconfigSecret stores kubeconfig as Secret prod-cluster in ns.
	kubeconfigSecret := func(kubeconfig []byte) {
		GinkgoHelper()
		Expect(admin.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prod-cluster", Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}},
			Data:       map[string][]byte{batonv1alpha1.KubeConfigKey: kubeconfig},
		})).To(Succeed())
	}
	remoteRelease := func(name string) *batonv1alpha1.Environment {
		env := releaseEnvironment(ns, name)
		env.Spec.Cluster = &batonv1alpha1.ClusterReference{KubeConfig: batonv1alpha1.KubeConfigReference{
			SecretRef: batonv1alpha1.LocalObjectReference{Name: "prod-cluster"}}}
		return env
	}
	server := func() string { return strings.TrimSuffix(other.Config.Host, "/") }
	expectNoRemoteJobs := func() {
		GinkgoHelper()
		jobs := &batchv1.JobList{}
		Expect(other.Client.List(ctx, jobs, client.InNamespace(ns))).To(Succeed())
		Expect(jobs.Items).To(BeEmpty())
	}

	It("refuses a template the other cluster refuses, saying where, and admits a good one without a warning", func() {
		kubeconfig, err := other.KubeConfigWithJobs(ctx, "baton-"+ns, ns)
		Expect(err).NotTo(HaveOccurred())
		kubeconfigSecret(kubeconfig)
		bad := remoteRelease("bad")
		bad.Spec.Release.Job.Template.Spec.Containers[0].Name = "Migrate_DB"
		err = jill.Create(ctx, bad)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(And(ContainSubstring(`spec.release.job.template.spec.containers[0].name: the cluster at `+server()+` (spec.cluster) refused the Job in namespace `+ns),
			ContainSubstring(`"Migrate_DB"`)))

		Expect(jill.Create(ctx, remoteRelease("good"))).To(Succeed())
		Expect(warned.take()).To(BeEmpty())
		expectNoRemoteJobs()
		expectNoJobs(ctx, ns)
	})

	DescribeTable("admits with a warning, after a dry run here, when the other cluster cannot judge the Job",
		func(prepare func() (restore func()), want string) {
			restore := prepare()
			if restore != nil {
				defer restore()
			}
			Expect(jill.Create(ctx, remoteRelease("web"))).To(Succeed())
			got := warned.take()
			Expect(got).To(HaveLen(1))
			Expect(got[0]).To(And(ContainSubstring("dry-run in the management cluster, not in spec.cluster"), ContainSubstring(want)))

			By("still refusing what this cluster refuses")
			bad := remoteRelease("bad")
			bad.Spec.Release.Job.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			err := jill.Create(ctx, bad)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring(`spec.release.job.template.spec.restartPolicy: Required value`))
			expectNoJobs(ctx, ns)
		},
		Entry("no kubeconfig Secret yet", func() func() { return nil }, "Secret "),
		Entry("an identity without the Jobs Role there", func() func() {
			kubeconfig, err := other.KubeConfig(ctx, "baton-"+ns, ns)
			Expect(err).NotTo(HaveOccurred())
			kubeconfigSecret(kubeconfig)
			return nil
		}, "config/remote-cluster/jobs"),
		Entry("a kubeconfig with an exec plugin", func() func() {
			kubeconfigSecret([]byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/steal}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`))
			return nil
		}, "--insecure-kubeconfig-exec"),
		Entry("the other API server down", func() func() {
			kubeconfig, err := other.KubeConfigWithJobs(ctx, "baton-"+ns, ns)
			Expect(err).NotTo(HaveOccurred())
			kubeconfigSecret(kubeconfig)
			Expect(other.StopAPIServer()).To(Succeed())
			return func() { Expect(other.StartAPIServer()).To(Succeed()) }
		}, "connection refused"),
	)
})
