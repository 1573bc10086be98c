package identity_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Job checks run a Pod through Baton's rights: only someone who may create
// Jobs in the namespace may add or change one. eve may edit Environments
// but not create Jobs; jill may do both.
var _ = Describe("Job checks need the right to create Jobs", Ordered, func() {
	ctx := context.Background()
	var ns string
	jobUsers := map[string]client.Client{}

	BeforeAll(func() {
		for name, rules := range map[string][]rbacv1.PolicyRule{
			"test-environment-editor": {{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"environments"},
				Verbs: []string{"get", "list", "create", "update", "patch"}}},
			"test-job-creator": {{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create"}}},
		} {
			err := admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules})
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		}
		for _, name := range []string{"eve", "jill"} {
			u, err := testEnv.AddUser(envtest.User{Name: name, Groups: []string{"developers"}}, nil)
			Expect(err).NotTo(HaveOccurred())
			jobUsers[name], err = client.New(u.Config(), client.Options{Scheme: testEnv.Scheme})
			Expect(err).NotTo(HaveOccurred())
		}
	})

	BeforeEach(func() {
		var err error
		ns, err = testEnv.BindUsers(ctx, "jobcheck-", map[string][]string{
			"eve":  {"test-environment-editor"},
			"jill": {"test-environment-editor", "test-job-creator"},
		})
		Expect(err).NotTo(HaveOccurred())
		waitWebhookActive(ctx, ns)
	})

	It("refuses eve's job check, naming the field, and stores nothing", func() {
		err := jobUsers["eve"].Create(ctx, jobEnvironment(ns, "smoke", "registry.example/smoke:1"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("spec.verification.checks[0].job"),
			ContainSubstring(`user "eve" may not create jobs (group batch) in namespace `+ns)))
		err = admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "smoke"}, &batonv1alpha1.Environment{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the refused Environment exists: %v", err)
	})

	It("admits jill's job check, and then refuses eve changing its Pod while letting her change the rest", func() {
		Expect(jobUsers["jill"].Create(ctx, jobEnvironment(ns, "smoke", "registry.example/smoke:1"))).To(Succeed())

		env := &batonv1alpha1.Environment{}
		Expect(jobUsers["eve"].Get(ctx, client.ObjectKey{Namespace: ns, Name: "smoke"}, env)).To(Succeed())
		env.Spec.Verification.SoakTime = &metav1.Duration{Duration: 42e9}
		Expect(jobUsers["eve"].Update(ctx, env)).To(Succeed(), "a change that runs no new Pod needs no Job rights")

		env.Spec.Verification.Checks[0].Job.Template.Spec.Containers[0].Image = "registry.example/evil:1"
		err := jobUsers["eve"].Update(ctx, env)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.verification.checks[0].job"))

		stored := &batonv1alpha1.Environment{}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "smoke"}, stored)).To(Succeed())
		Expect(stored.Spec.Verification.Checks[0].Job.Template.Spec.Containers[0].Image).To(Equal("registry.example/smoke:1"))
	})

	It("refuses eve adding a job check to an Environment that had none", func() {
		env := jobEnvironment(ns, "plain", "")
		env.Spec.Verification.Checks = nil
		Expect(jobUsers["eve"].Create(ctx, env)).To(Succeed(), "an Environment without a job check never calls the webhook")
		env.Spec.Verification.Checks = jobEnvironment(ns, "plain", "registry.example/smoke:1").Spec.Verification.Checks
		err := jobUsers["eve"].Update(ctx, env)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.verification.checks[0].job"))
	})

	// The CRD keeps the Pod template schemaless: the webhook refuses a bad
	// one by a dry run of the Job Baton would create, the schema the rest.
	DescribeTable("a bad job check is refused, naming the field, and nothing is stored",
		func(mutate func(*batonv1alpha1.VerificationCheck), want ...string) {
			env := jobEnvironment(ns, "bad", "registry.example/smoke:1")
			mutate(&env.Spec.Verification.Checks[0])
			err := jobUsers["jill"].Create(ctx, env)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			for _, w := range want {
				Expect(err.Error()).To(ContainSubstring(w))
			}
			err = admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bad"}, &batonv1alpha1.Environment{})
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
			expectNoJobs(ctx, ns)
		},
		Entry("a template without containers", func(c *batonv1alpha1.VerificationCheck) {
			c.Job.Template.Spec.Containers = nil
		}, "spec.verification.checks[0].job.template.spec.containers: Required value"),
		Entry("restartPolicy Always", func(c *batonv1alpha1.VerificationCheck) {
			c.Job.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, `spec.verification.checks[0].job.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`),
		Entry("a container name the API server refuses", func(c *batonv1alpha1.VerificationCheck) {
			c.Job.Template.Spec.Containers[0].Name = "Smoke_Test"
		}, "spec.verification.checks[0].job.template.spec.containers[0].name: Invalid value: \"Smoke_Test\""),
		Entry("a container without an image", func(c *batonv1alpha1.VerificationCheck) {
			c.Job.Template.Spec.Containers[0].Image = ""
		}, "spec.verification.checks[0].job.template.spec.containers[0].image: Required value"),
		Entry("both prometheus and job", func(c *batonv1alpha1.VerificationCheck) {
			c.Prometheus = &batonv1alpha1.PrometheusCheck{Address: "http://prometheus:9090", Query: "up", Below: ptrTo("1")}
		}, "spec.verification.checks[0]", "a check needs exactly one of prometheus or job"),
		Entry("a negative backoffLimit", func(c *batonv1alpha1.VerificationCheck) {
			c.Job.BackoffLimit = ptrTo(int32(-1))
		}, "spec.verification.checks[0].job.backoffLimit"),
		Entry("a zero activeDeadlineSeconds", func(c *batonv1alpha1.VerificationCheck) {
			c.Job.ActiveDeadlineSeconds = ptrTo(int64(0))
		}, "spec.verification.checks[0].job.activeDeadlineSeconds"),
	)

	It("refuses a misspelt field of the Pod template, which the schemaless CRD would keep and Baton drop", func() {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(batonv1alpha1.GroupVersion.WithKind("Environment"))
		u.SetNamespace(ns)
		u.SetName("typo")
		Expect(unstructured.SetNestedField(u.Object, map[string]any{
			"workload":     map[string]any{"kind": "Deployment", "name": "web", "container": "web"},
			"delivery":     map[string]any{"direct": map[string]any{}},
			"verification": map[string]any{"checks": []any{map[string]any{"name": "smoke", "job": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "smoke", "image": "registry.example/smoke:1", "comand": []any{"/smoke"}}}}}}}}},
		}, "spec")).To(Succeed())
		err := jobUsers["jill"].Create(ctx, u)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(`spec.verification.checks[0].job.template.spec.containers[0].comand: unknown field`))
		err = admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "typo"}, &batonv1alpha1.Environment{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue())
	})

	It("refuses jill changing an admitted template into a bad one, and keeps the stored one", func() {
		Expect(jobUsers["jill"].Create(ctx, jobEnvironment(ns, "smoke", "registry.example/smoke:1"))).To(Succeed())
		env := &batonv1alpha1.Environment{}
		Expect(jobUsers["jill"].Get(ctx, client.ObjectKey{Namespace: ns, Name: "smoke"}, env)).To(Succeed())
		env.Spec.Verification.Checks[0].Job.Template.Spec.Containers = nil
		err := jobUsers["jill"].Update(ctx, env)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.verification.checks[0].job.template.spec.containers: Required value"))
		stored := &batonv1alpha1.Environment{}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "smoke"}, stored)).To(Succeed())
		Expect(stored.Spec.Verification.Checks[0].Job.Template.Spec.Containers).To(HaveLen(1))
		expectNoJobs(ctx, ns)
	})
})

// jobEnvironment is an Environment with one job check running smokeImage.
func jobEnvironment(ns, name, smokeImage string) *batonv1alpha1.Environment {
	return &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batonv1alpha1.EnvironmentSpec{
			Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
			Delivery: batonv1alpha1.Delivery{Direct: &batonv1alpha1.DirectDelivery{}},
			Verification: batonv1alpha1.Verification{Checks: []batonv1alpha1.VerificationCheck{{
				Name: "smoke",
				Job: &batonv1alpha1.JobTemplate{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "smoke", Image: smokeImage}},
				}}},
			}}},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

// expectNoJobs: the webhook's dry runs leave no Job behind.
func expectNoJobs(ctx context.Context, ns string) {
	GinkgoHelper()
	jobs := &batchv1.JobList{}
	Expect(admin.List(ctx, jobs, client.InNamespace(ns))).To(Succeed())
	Expect(jobs.Items).To(BeEmpty())
}

// The release Job (spec.release.job) runs a Pod through Baton's rights as a
// job check does: the same right to create Jobs, the same dry run, each
// refusal named under spec.release.job.
var _ = Describe("The release Job needs the right to create Jobs and a valid template", Ordered, func() {
	ctx := context.Background()
	var ns string
	users := map[string]client.Client{}

	BeforeAll(func() {
		for name, rules := range map[string][]rbacv1.PolicyRule{
			"test-environment-editor": {{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"environments"},
				Verbs: []string{"get", "list", "create", "update", "patch"}}},
			"test-job-creator": {{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create"}}},
		} {
			err := admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules})
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		}
		for _, name := range []string{"eve", "jill"} {
			u, err := testEnv.AddUser(envtest.User{Name: name + "-release", Groups: []string{"developers"}}, nil)
			Expect(err).NotTo(HaveOccurred())
			users[name], err = client.New(u.Config(), client.Options{Scheme: testEnv.Scheme})
			Expect(err).NotTo(HaveOccurred())
		}
	})

	BeforeEach(func() {
		var err error
		ns, err = testEnv.BindUsers(ctx, "release-", map[string][]string{
			"eve-release":  {"test-environment-editor"},
			"jill-release": {"test-environment-editor", "test-job-creator"},
		})
		Expect(err).NotTo(HaveOccurred())
		waitWebhookActive(ctx, ns)
	})

	It("refuses eve's release Job, naming the field, admits jill's, and lets eve change the rest", func() {
		err := users["eve"].Create(ctx, releaseEnvironment(ns, "web"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("spec.release.job"), ContainSubstring(`user "eve-release" may not create jobs (group batch) in namespace `+ns),
			ContainSubstring("the release Job runs its Job with Baton's rights")))

		Expect(users["jill"].Create(ctx, releaseEnvironment(ns, "web"))).To(Succeed())
		env := &batonv1alpha1.Environment{}
		Expect(users["eve"].Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, env)).To(Succeed())
		env.Spec.Release.Timeout = &metav1.Duration{Duration: 42e9}
		Expect(users["eve"].Update(ctx, env)).To(Succeed(), "a change that runs no new Pod needs no Job rights")
		env.Spec.Release.Job.Template.Spec.Containers[0].Command = []string{"sh", "-c", "curl evil"}
		err = users["eve"].Update(ctx, env)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		expectNoJobs(ctx, ns)
	})

	DescribeTable("a bad release Job is refused, naming the field, and nothing is stored",
		func(mutate func(*batonv1alpha1.ReleasePhase), want ...string) {
			env := releaseEnvironment(ns, "bad")
			mutate(env.Spec.Release)
			err := users["jill"].Create(ctx, env)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			for _, w := range want {
				Expect(err.Error()).To(ContainSubstring(w))
			}
			err = admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bad"}, &batonv1alpha1.Environment{})
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
			expectNoJobs(ctx, ns)
		},
		Entry("a template without containers", func(r *batonv1alpha1.ReleasePhase) {
			r.Job.Template.Spec.Containers = nil
		}, "spec.release.job.template.spec.containers: Required value: the release Job needs a container to run the promoted image"),
		Entry("restartPolicy Always", func(r *batonv1alpha1.ReleasePhase) {
			r.Job.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, `spec.release.job.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`),
		Entry("a release-container annotation naming no container", func(r *batonv1alpha1.ReleasePhase) {
			r.Job.Template.Annotations = map[string]string{batonv1alpha1.ReleaseContainerAnnotation: "db"}
		}, `spec.release.job.template.metadata.annotations[promotion.baton.dev/release-container]: Invalid value: "db": the template has no container of that name (it has migrate)`),
		Entry("a container name the API server refuses", func(r *batonv1alpha1.ReleasePhase) {
			r.Job.Template.Spec.Containers[0].Name = "Migrate_DB"
		}, `spec.release.job.template.spec.containers[0].name: Invalid value: "Migrate_DB"`),
		Entry("a sidecar without an image (the release container gets the promoted one)", func(r *batonv1alpha1.ReleasePhase) {
			r.Job.Template.Spec.Containers = append(r.Job.Template.Spec.Containers, corev1.Container{Name: "proxy"})
		}, "spec.release.job.template.spec.containers[1].image: Required value"),
		Entry("a zero activeDeadlineSeconds", func(r *batonv1alpha1.ReleasePhase) {
			r.Job.ActiveDeadlineSeconds = ptrTo(int64(0))
		}, "spec.release.job.activeDeadlineSeconds"),
	)

	It("refuses a misspelt field of the release Pod template", func() {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(batonv1alpha1.GroupVersion.WithKind("Environment"))
		u.SetNamespace(ns)
		u.SetName("typo")
		Expect(unstructured.SetNestedField(u.Object, map[string]any{
			"workload": map[string]any{"kind": "Deployment", "name": "web", "container": "web"},
			"delivery": map[string]any{"direct": map[string]any{}},
			"release":  map[string]any{"job": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "migrate", "comand": []any{"migrate"}}}}}}},
		}, "spec")).To(Succeed())
		err := users["jill"].Create(ctx, u)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(`spec.release.job.template.spec.containers[0].comand: unknown field`))
	})
})

// releaseEnvironment is an Environment whose release Job runs a migration;
// its container has no image, since Baton sets the promoted one.
func releaseEnvironment(ns, name string) *batonv1alpha1.Environment {
	return &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batonv1alpha1.EnvironmentSpec{
			Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
			Delivery: batonv1alpha1.Delivery{Direct: &batonv1alpha1.DirectDelivery{}},
			Release: &batonv1alpha1.ReleasePhase{Job: batonv1alpha1.JobTemplate{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "migrate", Command: []string{"manage.py", "migrate"}}},
			}}}},
		},
	}
}
