package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
)

func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "schema-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func validEnvironment(ns string) *batonv1alpha1.Environment {
	return &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "env-"},
		Spec: batonv1alpha1.EnvironmentSpec{
			Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
			Delivery: batonv1alpha1.Delivery{Direct: &batonv1alpha1.DirectDelivery{}},
		},
	}
}

func commitStatusSource(url string) *batonv1alpha1.Source {
	return &batonv1alpha1.Source{Git: batonv1alpha1.GitSource{URL: url}, Image: "reg.example.com/web:{{ .ShortSHA }}",
		CommitStatus: &batonv1alpha1.CommitStatus{SecretRef: batonv1alpha1.LocalObjectReference{Name: "forge-token"}}}
}

func gitDelivery() *batonv1alpha1.GitDelivery {
	return &batonv1alpha1.GitDelivery{
		URL:  "https://git.example.com/config.git",
		Edit: &batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{}},
	}
}

func containerEdit(file, container string) batonv1alpha1.ManifestEdit {
	return batonv1alpha1.ManifestEdit{YAML: &batonv1alpha1.YAMLFieldEdit{File: file, Field: "spec.template.spec.containers[name=" + container + "].image"}}
}

func approval(user, image string) batonv1alpha1.Approval {
	return batonv1alpha1.Approval{
		UserInfo:   batonv1alpha1.UserInfo{Username: user, Groups: []string{"approvers"}},
		Image:      image,
		ApprovedAt: metav1.Now(),
	}
}

// validPromotion carries every field, webhook-owned ones included, so that
// the update cases can prove each one is protected.
func validPromotion(ns string) *batonv1alpha1.Promotion {
	return &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "promo-"},
		Spec: batonv1alpha1.PromotionSpec{
			Environment: "production",
			Image:       "registry.example.com/web:1.2.3",
			Reason:      "ship it",
			RequestedBy: &batonv1alpha1.UserInfo{Username: "alice", Groups: []string{"developers"}},
			Approvals:   []batonv1alpha1.Approval{approval("bob", "registry.example.com/web:1.2.3")},
		},
	}
}

// expectInvalid asserts the API server rejected a write as Invalid, and that
// the message names the field and says why.
func expectInvalid(err error, field, why string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted the object")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	Expect(err.Error()).To(ContainSubstring(field), "the message does not name the field")
	Expect(err.Error()).To(ContainSubstring(why), "the message does not say why")
}

var _ = Describe("The CRD schema", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("accepts every sample in config/samples", func() {
		dir := filepath.Join(testenv.RepoRoot(), "config", "samples")
		files, err := filepath.Glob(filepath.Join(dir, "promotion_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(4))
		kinds := map[string]int{}
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{}
			Expect(utilyaml.Unmarshal(data, &u.Object)).To(Succeed(), f)
			u.SetNamespace(ns)
			Expect(k8sClient.Create(ctx, u)).To(Succeed(), "sample %s", filepath.Base(f))
			kinds[u.GetKind()]++
		}
		Expect(kinds).To(Equal(map[string]int{"Environment": 2, "Promotion": 2}))

		prod := &batonv1alpha1.Environment{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "production"}, prod)).To(Succeed())
		Expect(prod.Spec.Delivery.Git.Branch).To(Equal("main"))
		Expect(prod.Spec.HistoryLimit).To(Equal(int32(10)), "historyLimit defaults to 10")
		Expect(prod.Spec.Verification.SoakTime.Duration.String()).To(Equal("5m0s"), "soakTime defaults to 5m")
		Expect(prod.Spec.Rollout.Timeout.Duration.String()).To(Equal("10m0s"), "the sample sets the rollout timeout")

		staging := &batonv1alpha1.Environment{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "staging"}, staging)).To(Succeed())
		Expect(staging.Spec.Rollout.Timeout.Duration.String()).To(Equal("10m0s"), "rollout.timeout defaults to 10m")
	})

	DescribeTable("rejects a bad Environment on create, naming the field",
		func(mutate func(*batonv1alpha1.Environment), field, why string) {
			env := validEnvironment(ns)
			mutate(env)
			expectInvalid(k8sClient.Create(ctx, env), field, why)
		},
		Entry("a kubeconfig Secret without a name", func(e *batonv1alpha1.Environment) {
			e.Spec.Cluster = remoteCluster()
			e.Spec.Cluster.KubeConfig.SecretRef.Name = ""
		}, "spec.cluster.kubeConfig.secretRef.name", "should be at least 1 chars long"),
		Entry("delivery with both git and direct", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git = gitDelivery()
		}, "spec.delivery", "exactly one of git or direct must be set"),
		Entry("delivery with neither git nor direct", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Direct = nil
		}, "spec.delivery", "exactly one of git or direct must be set"),
		Entry("a workload kind Baton cannot watch", func(e *batonv1alpha1.Environment) {
			e.Spec.Workload.Kind = "Pod"
		}, "spec.workload.kind", `Unsupported value: "Pod"`),
		Entry("no container", func(e *batonv1alpha1.Environment) {
			e.Spec.Workload.Container = ""
		}, "spec.workload", "exactly one of container or containers must be set"),
		Entry("both container and containers", func(e *batonv1alpha1.Environment) {
			e.Spec.Workload.Containers = []string{"web", "sidecar"}
		}, "spec.workload", "exactly one of container or containers must be set"),
		Entry("a container listed twice", func(e *batonv1alpha1.Environment) {
			e.Spec.Workload.Container, e.Spec.Workload.Containers = "", []string{"web", "web"}
		}, "spec.workload.containers[1]", "Duplicate value"),
		Entry("both workload and workloads", func(e *batonv1alpha1.Environment) {
			e.Spec.Workloads = []batonv1alpha1.WorkloadReference{*e.Spec.Workload}
		}, "spec", "exactly one of workload or workloads must be set"),
		Entry("neither workload nor workloads", func(e *batonv1alpha1.Environment) {
			e.Spec.Workload = nil
		}, "spec", "exactly one of workload or workloads must be set"),
		Entry("an empty workloads list", func(e *batonv1alpha1.Environment) {
			e.Spec.Workload, e.Spec.Workloads = nil, []batonv1alpha1.WorkloadReference{}
		}, "spec", "exactly one of workload or workloads must be set"),
		Entry("a worker without its container", func(e *batonv1alpha1.Environment) {
			e.Spec.Workloads = []batonv1alpha1.WorkloadReference{*e.Spec.Workload, {Kind: batonv1alpha1.WorkloadKindDeployment, Name: "worker"}}
			e.Spec.Workload = nil
		}, "spec.workloads[1]", "exactly one of container or containers must be set"),
		Entry("a negative approval count", func(e *batonv1alpha1.Environment) {
			e.Spec.Approval.Required = -1
		}, "spec.approval.required", "should be greater than or equal to 0"),
		Entry("a history limit of 0", func(e *batonv1alpha1.Environment) {
			e.Spec.HistoryLimit = -3
		}, "spec.historyLimit", "should be greater than or equal to 1"),
		Entry("a git path that climbs out of the repository", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Path = "overlays/../../etc"
		}, "spec.delivery.git.path", "must not contain '..'"),
		Entry("an absolute git path", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Path = "/etc"
		}, "spec.delivery.git.path", "must be relative"),
		Entry("a git URL with an unsupported scheme", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.URL = "ftp://git.example.com/config.git"
		}, "spec.delivery.git.url", "should match"),
		Entry("two manifest edits at once", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit.YAML = &batonv1alpha1.YAMLFieldEdit{File: "deploy.yaml", Field: "image"}
		}, "spec.delivery.git.edit", "exactly one of kustomize, yaml or helm must be set"),
		Entry("a helm imageField together with a tagField", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit = &batonv1alpha1.ManifestEdit{Helm: &batonv1alpha1.HelmEdit{ImageField: "image", TagField: "tag"}}
		}, "spec.delivery.git.edit.helm", "imageField cannot be combined with repositoryField or tagField"),
		Entry("git delivery with both edit and edits", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edits = []batonv1alpha1.ManifestEdit{containerEdit("web.yaml", "web")}
		}, "spec.delivery.git", "exactly one of edit or edits must be set"),
		Entry("git delivery with neither edit nor edits", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit = nil
		}, "spec.delivery.git", "exactly one of edit or edits must be set"),
		Entry("an empty edits list", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit, e.Spec.Delivery.Git.Edits = nil, []batonv1alpha1.ManifestEdit{}
		}, "spec.delivery.git", "exactly one of edit or edits must be set"),
		Entry("the same yaml file and field twice in edits", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit = nil
			e.Spec.Delivery.Git.Edits = []batonv1alpha1.ManifestEdit{containerEdit("web.yaml", "web"), containerEdit("worker.yaml", "worker"), containerEdit("web.yaml", "web")}
		}, "spec.delivery.git.edits", "two edits set the same field"),
		Entry("the same kustomize image twice in edits", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit = nil
			k := batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{}}
			e.Spec.Delivery.Git.Edits = []batonv1alpha1.ManifestEdit{k, k}
		}, "spec.delivery.git.edits", "two edits set the same field"),
		Entry("the same helm file and fields twice in edits, one by its default", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit = nil
			e.Spec.Delivery.Git.Edits = []batonv1alpha1.ManifestEdit{
				{Helm: &batonv1alpha1.HelmEdit{}}, {Helm: &batonv1alpha1.HelmEdit{File: "values.yaml"}}}
		}, "spec.delivery.git.edits", "two edits set the same field"),
		Entry("an edit in edits of no kind", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit = nil
			e.Spec.Delivery.Git.Edits = []batonv1alpha1.ManifestEdit{containerEdit("web.yaml", "web"), {}}
		}, "spec.delivery.git.edits[1]", "exactly one of kustomize, yaml or helm must be set"),
		Entry("an edit in edits whose file climbs out", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit = nil
			e.Spec.Delivery.Git.Edits = []batonv1alpha1.ManifestEdit{containerEdit("web.yaml", "web"), containerEdit("../staging/worker.yaml", "worker")}
		}, "spec.delivery.git.edits[1].yaml.file", "must not contain '..'"),
		Entry("21 edits", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
			e.Spec.Delivery.Git.Edit = nil
			for i := range 21 {
				e.Spec.Delivery.Git.Edits = append(e.Spec.Delivery.Git.Edits, containerEdit(fmt.Sprintf("p%d.yaml", i), "web"))
			}
		}, "spec.delivery.git.edits", "must have at most 20 items"),
		Entry("the same workload twice, namespace and all", func(e *batonv1alpha1.Environment) {
			w := batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Namespace: "apps", Container: "web"}
			e.Spec.Workload, e.Spec.Workloads = nil, []batonv1alpha1.WorkloadReference{w, w}
		}, "spec.workloads", "a workload is listed twice"),
		Entry("an over-long workload name", func(e *batonv1alpha1.Environment) {
			e.Spec.Workload.Name = strings.Repeat("a", 254)
		}, "spec.workload.name", "Too long"),
		Entry("a waitForImage timeout of 0", func(e *batonv1alpha1.Environment) {
			e.Spec.Source = &batonv1alpha1.Source{Git: batonv1alpha1.GitSource{URL: "https://github.com/acme/web.git"}, Image: "reg.example.com/web:{{ .ShortSHA }}",
				WaitForImage: &batonv1alpha1.WaitForImage{Timeout: &metav1.Duration{}}}
		}, "spec.source.waitForImage.timeout", "timeout must be between 1s and 168h (a week)"),
		Entry("a waitForImage timeout over a week", func(e *batonv1alpha1.Environment) {
			e.Spec.Source = &batonv1alpha1.Source{Git: batonv1alpha1.GitSource{URL: "https://github.com/acme/web.git"}, Image: "reg.example.com/web:{{ .ShortSHA }}",
				WaitForImage: &batonv1alpha1.WaitForImage{Timeout: &metav1.Duration{Duration: 200 * time.Hour}}}
		}, "spec.source.waitForImage.timeout", "timeout must be between 1s and 168h (a week)"),
		Entry("a commit-status provider Baton does not know", func(e *batonv1alpha1.Environment) {
			e.Spec.Source = commitStatusSource("https://github.com/acme/web.git")
			e.Spec.Source.CommitStatus.Provider = "bitbucket"
		}, "spec.source.commitStatus.provider", `Unsupported value: "bitbucket"`),
		Entry("a plain http:// commit-status address, which would carry the token", func(e *batonv1alpha1.Environment) {
			e.Spec.Source = commitStatusSource("https://git.example.com/acme/web.git")
			e.Spec.Source.CommitStatus.Provider = batonv1alpha1.CommitStatusGitea
			e.Spec.Source.CommitStatus.Address = "http://git.example.com"
		}, "spec.source.commitStatus.address", "address must be https://: the token travels with every call"),
		Entry("a commit-status address with credentials in it", func(e *batonv1alpha1.Environment) {
			e.Spec.Source = commitStatusSource("https://git.example.com/acme/web.git")
			e.Spec.Source.CommitStatus.Provider = batonv1alpha1.CommitStatusGitea
			e.Spec.Source.CommitStatus.Address = "https://user:pw@git.example.com"
		}, "spec.source.commitStatus.address", "no spaces, credentials, query or fragment"),
		Entry("a host other than github.com or gitlab.com without a provider", func(e *batonv1alpha1.Environment) {
			e.Spec.Source = commitStatusSource("https://git.example.com/acme/web.git")
			e.Spec.Source.CommitStatus.Address = "https://git.example.com"
		}, "spec.source.commitStatus.provider", "the host of git.url is neither github.com nor gitlab.com: set commitStatus.provider"),
		Entry("gitea without an address", func(e *batonv1alpha1.Environment) {
			e.Spec.Source = commitStatusSource("git@git.example.com:acme/web.git")
			e.Spec.Source.CommitStatus.Provider = batonv1alpha1.CommitStatusGitea
		}, "spec.source.commitStatus.address", "commitStatus.address is required"),
		Entry("a commit-status repository that is no path", func(e *batonv1alpha1.Environment) {
			e.Spec.Source = commitStatusSource("https://github.com/acme/web.git")
			e.Spec.Source.CommitStatus.Repository = "web"
		}, "spec.source.commitStatus.repository", "should match"),
	)

	It("accepts a release Job and a job check in another cluster: they run there", func() {
		env := validEnvironment(ns)
		env.Name = "remote-jobs"
		env.Spec.Cluster = remoteCluster()
		env.Spec.Release = &batonv1alpha1.ReleasePhase{Job: jobTemplate()}
		job := jobTemplate()
		env.Spec.Verification.Checks = []batonv1alpha1.VerificationCheck{{Name: "smoke", Job: &job}}
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		stored := &batonv1alpha1.Environment{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), stored)).To(Succeed())
		Expect(stored.Spec.Release).NotTo(BeNil())
		Expect(stored.Spec.Verification.Checks[0].Job).NotTo(BeNil())
	})

	It("accepts edits of different fields, and workloads that differ only by namespace", func() {
		env := validEnvironment(ns)
		env.Spec.Workload = nil
		env.Spec.Workloads = []batonv1alpha1.WorkloadReference{
			{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
			{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Namespace: "apps", Container: "web"},
			{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "worker", Container: "worker"},
		}
		env.Spec.Delivery = batonv1alpha1.Delivery{Git: gitDelivery()}
		env.Spec.Delivery.Git.Edit = nil
		env.Spec.Delivery.Git.Edits = []batonv1alpha1.ManifestEdit{
			containerEdit("web.yaml", "web"), containerEdit("worker.yaml", "worker"), containerEdit("web.yaml", "sidecar"),
			{Kustomize: &batonv1alpha1.KustomizeEdit{}}, {Kustomize: &batonv1alpha1.KustomizeEdit{ImageName: "worker"}},
			{Helm: &batonv1alpha1.HelmEdit{ImageField: "web.image"}}, {Helm: &batonv1alpha1.HelmEdit{ImageField: "worker.image"}},
		}
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		Expect(env.Spec.Delivery.Git.ManifestEdits()).To(HaveLen(7))
	})

	It("accepts spec.source.commitStatus on github.com and gitlab.com with nothing but a secretRef", func() {
		for _, url := range []string{"https://github.com/acme/web.git", "git@gitlab.com:acme/platform/web.git", "ssh://git@github.com/acme/web"} {
			env := validEnvironment(ns)
			env.Spec.Source = commitStatusSource(url)
			Expect(k8sClient.Create(ctx, env)).To(Succeed(), url)
		}
	})

	DescribeTable("rejects a bad Promotion on create, naming the field",
		func(mutate func(*batonv1alpha1.Promotion), field, why string) {
			p := validPromotion(ns)
			mutate(p)
			expectInvalid(k8sClient.Create(ctx, p), field, why)
		},
		Entry("both image and rollback", func(p *batonv1alpha1.Promotion) {
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: 2}
		}, "spec.rollback", "image and rollback are mutually exclusive"),
		Entry("a negative rollback revision", func(p *batonv1alpha1.Promotion) {
			p.Spec.Image = ""
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: -1}
		}, "spec.rollback.toRevision", "should be greater than or equal to 0"),
		Entry("no environment", func(p *batonv1alpha1.Promotion) {
			p.Spec.Environment = ""
		}, "spec.environment", "should be at least 1 chars long"),
		Entry("an environment name that is not a Kubernetes name", func(p *batonv1alpha1.Promotion) {
			p.Spec.Environment = "Prod_Env"
		}, "spec.environment", "should match"),
		Entry("an over-long reason", func(p *batonv1alpha1.Promotion) {
			p.Spec.Reason = strings.Repeat("r", 1025)
		}, "spec.reason", "Too long"),
		Entry("an over-long image", func(p *batonv1alpha1.Promotion) {
			p.Spec.Image = "registry.example.com/" + strings.Repeat("a", 600)
		}, "spec.image", "Too long"),
		Entry("more than 20 approvals", func(p *batonv1alpha1.Promotion) {
			for i := range 20 {
				p.Spec.Approvals = append(p.Spec.Approvals, approval(fmt.Sprintf("user%d", i), p.Spec.Image))
			}
		}, "spec.approvals", "must have at most 20 items"),
		Entry("an approval without a user", func(p *batonv1alpha1.Promotion) {
			p.Spec.Approvals[0].Username = ""
		}, "spec.approvals[0].username", "should be at least 1 chars long"),
	)

	DescribeTable("rejects a bad Promotion update, naming the field",
		func(mutate func(*batonv1alpha1.Promotion), field, why string) {
			p := validPromotion(ns)
			p.Spec.Cancel = true
			p.Spec.CanceledBy = &batonv1alpha1.UserInfo{Username: "carol"}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			mutate(p)
			expectInvalid(k8sClient.Update(ctx, p), field, why)

			stored := &batonv1alpha1.Promotion{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), stored)).To(Succeed())
			Expect(stored.Spec).To(Equal(validPromotionSpecAfterCreate(stored)), "the rejected update changed the stored object")
		},
		Entry("changing environment", func(p *batonv1alpha1.Promotion) {
			p.Spec.Environment = "staging"
		}, "spec.environment", "environment is immutable"),
		Entry("changing image", func(p *batonv1alpha1.Promotion) {
			p.Spec.Image = "registry.example.com/web:6.6.6"
		}, "spec.image", "image is immutable"),
		Entry("removing image", func(p *batonv1alpha1.Promotion) {
			p.Spec.Image = ""
		}, "spec.image", "image is immutable"),
		Entry("changing reason", func(p *batonv1alpha1.Promotion) {
			p.Spec.Reason = "a different story"
		}, "spec.reason", "reason is immutable"),
		Entry("adding a rollback", func(p *batonv1alpha1.Promotion) {
			p.Spec.Image = ""
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{}
		}, "spec.rollback", "rollback is immutable"),
		Entry("cancel from true back to false", func(p *batonv1alpha1.Promotion) {
			p.Spec.Cancel = false
		}, "spec.cancel", "cancel may only change from false to true"),
		Entry("removing an approval", func(p *batonv1alpha1.Promotion) {
			p.Spec.Approvals = nil
		}, "spec.approvals", "approvals may only be appended to"),
		Entry("editing an approval's user", func(p *batonv1alpha1.Promotion) {
			p.Spec.Approvals[0].Username = "mallory"
		}, "spec.approvals", "approvals may only be appended to"),
		Entry("editing an approval's image", func(p *batonv1alpha1.Promotion) {
			p.Spec.Approvals[0].Image = "registry.example.com/web:6.6.6"
		}, "spec.approvals", "approvals may only be appended to"),
		Entry("replacing an approval while keeping the count", func(p *batonv1alpha1.Promotion) {
			p.Spec.Approvals = []batonv1alpha1.Approval{approval("mallory", p.Spec.Image)}
		}, "spec.approvals", "approvals may only be appended to"),
		Entry("changing requestedBy", func(p *batonv1alpha1.Promotion) {
			p.Spec.RequestedBy = &batonv1alpha1.UserInfo{Username: "mallory"}
		}, "spec.requestedBy", "requestedBy cannot be changed once set"),
		Entry("removing canceledBy", func(p *batonv1alpha1.Promotion) {
			p.Spec.CanceledBy = nil
		}, "spec.canceledBy", "canceledBy cannot be changed once set"),
	)

	It("allows the updates the system itself makes", func() {
		p := validPromotion(ns)
		Expect(k8sClient.Create(ctx, p)).To(Succeed())

		By("adding a finalizer and a label")
		controllerutil.AddFinalizer(p, "promotion.baton.dev/finalizer")
		p.Labels = map[string]string{"team": "checkout"}
		Expect(k8sClient.Update(ctx, p)).To(Succeed())

		By("appending an approval")
		p.Spec.Approvals = append(p.Spec.Approvals, approval("dave", p.Spec.Image))
		Expect(k8sClient.Update(ctx, p)).To(Succeed())

		By("canceling, from false to true")
		p.Spec.Cancel = true
		p.Spec.CanceledBy = &batonv1alpha1.UserInfo{Username: "alice"}
		Expect(k8sClient.Update(ctx, p)).To(Succeed())

		By("removing the finalizer")
		controllerutil.RemoveFinalizer(p, "promotion.baton.dev/finalizer")
		Expect(k8sClient.Update(ctx, p)).To(Succeed())

		stored := &batonv1alpha1.Promotion{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), stored)).To(Succeed())
		Expect(stored.Spec.Approvals).To(HaveLen(2))
		Expect(stored.Spec.Cancel).To(BeTrue())
		Expect(stored.Labels).To(HaveKeyWithValue("team", "checkout"))
		Expect(stored.Finalizers).To(BeEmpty())
	})

	It("rejects a soak time that is not a duration", func() {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": batonv1alpha1.GroupVersion.String(),
			"kind":       "Environment",
			"metadata":   map[string]any{"name": "bad-soak", "namespace": ns},
			"spec": map[string]any{
				"workload":     map[string]any{"kind": "Deployment", "name": "web", "container": "web"},
				"delivery":     map[string]any{"direct": map[string]any{}},
				"verification": map[string]any{"soakTime": "five minutes"},
			},
		}}
		expectInvalid(k8sClient.Create(ctx, u), "spec.verification.soakTime", "should match")
	})
})

// validPromotionSpecAfterCreate is the spec the update table creates, as the
// API server stores it, with approval timestamps taken from what was stored.
func validPromotionSpecAfterCreate(stored *batonv1alpha1.Promotion) batonv1alpha1.PromotionSpec {
	want := validPromotion(stored.Namespace).Spec
	want.Cancel = true
	want.CanceledBy = &batonv1alpha1.UserInfo{Username: "carol"}
	for i := range want.Approvals {
		if i < len(stored.Spec.Approvals) {
			want.Approvals[i].ApprovedAt = stored.Spec.Approvals[i].ApprovedAt
		}
	}
	return want
}

func remoteCluster() *batonv1alpha1.ClusterReference {
	return &batonv1alpha1.ClusterReference{KubeConfig: batonv1alpha1.KubeConfigReference{SecretRef: batonv1alpha1.LocalObjectReference{Name: "production-cluster"}}}
}

func jobTemplate() batonv1alpha1.JobTemplate {
	return batonv1alpha1.JobTemplate{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "migrate", Image: "registry.example.com/web:1"}},
	}}}
}
