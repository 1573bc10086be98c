package identity_test

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

const (
	image   = "registry.example.com/web:1.2.3"
	envName = "production"
)

// The names controller-gen gives the generated configurations.
const (
	mutatingName   = "mutating-webhook-configuration"
	validatingName = "validating-webhook-configuration"
)

func newEnvironment(ctx context.Context, ns string, required int32) *batonv1alpha1.Environment {
	GinkgoHelper()
	env := &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: envName},
		Spec: batonv1alpha1.EnvironmentSpec{
			Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
			Delivery: batonv1alpha1.Delivery{Direct: &batonv1alpha1.DirectDelivery{}},
			Approval: batonv1alpha1.ApprovalPolicy{Required: required},
		},
	}
	Expect(admin.Create(ctx, env)).To(Succeed())
	return env
}

// aliceManifest is the file Alice keeps in her repository. It claims bob
// requested it, which the webhook must ignore.
func aliceManifest(ns, name string) *batonv1alpha1.Promotion {
	return &batonv1alpha1.Promotion{
		TypeMeta:   metav1.TypeMeta{APIVersion: batonv1alpha1.GroupVersion.String(), Kind: "Promotion"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batonv1alpha1.PromotionSpec{
			Environment: envName,
			Image:       image,
			Reason:      "ship the new checkout",
			RequestedBy: &batonv1alpha1.UserInfo{Username: "bob"},
		},
	}
}

func get(ctx context.Context, ns, name string) *batonv1alpha1.Promotion {
	GinkgoHelper()
	p := &batonv1alpha1.Promotion{}
	Expect(admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p)).To(Succeed())
	return p
}

func key(ctx context.Context) []byte {
	GinkgoHelper()
	k, err := keys.Key(ctx)
	Expect(err).NotTo(HaveOccurred())
	return k
}

// resolve plays the engine: the admin writes status.image.
func resolve(ctx context.Context, ns, name string) {
	GinkgoHelper()
	resolveDigest(ctx, ns, name, "")
}

// resolveDigest is resolve with the digest the engine froze too.
func resolveDigest(ctx context.Context, ns, name, digest string) {
	GinkgoHelper()
	p := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	patch := []byte(`{"status":{"image":"` + image + `","digest":"` + digest + `","phase":"WaitingForApproval"}}`)
	Expect(admin.Status().Patch(ctx, p, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

func jsonPatch(ctx context.Context, user, ns, name, patch string) error {
	p := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	return users[user].Patch(ctx, p, client.RawPatch(types.JSONPatchType, []byte(patch)))
}

// approveCmd is the documented approval, which works whether or not
// spec.approvals exists yet.
const approveCmd = `[{"op":"add","path":"/spec/approvals","value":[{}]}]`

// appendCmd appends to an existing list.
const appendCmd = `[{"op":"add","path":"/spec/approvals/-","value":{}}]`

func approve(ctx context.Context, user, ns, name string) error {
	return jsonPatch(ctx, user, ns, name, approveCmd)
}

// expectDenied asserts a Forbidden error whose message contains each part.
func expectDenied(err error, parts ...string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the request was admitted")
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
	for _, p := range parts {
		Expect(err.Error()).To(ContainSubstring(p))
	}
}

func usernames(p *batonv1alpha1.Promotion) []string {
	var out []string
	for _, a := range p.Spec.Approvals {
		out = append(out, a.Username)
	}
	return out
}

// probe is a dry-run create that the webhook always denies (a client may
// not set the marker), so its outcome tells whether the webhook is called.
func probe(ctx context.Context, ns string) error {
	p := aliceManifest(ns, "probe")
	p.Annotations = map[string]string{batonv1alpha1.AdmissionMarkerAnnotation: "v1:forged"}
	return admin.Create(ctx, p, client.DryRunAll)
}

func waitWebhookActive(ctx context.Context, ns string) {
	GinkgoHelper()
	Eventually(func() string {
		err := probe(ctx, ns)
		if err == nil {
			return "admitted"
		}
		return err.Error()
	}).WithTimeout(20 * time.Second).Should(ContainSubstring("is written only by Baton's admission webhook"))
}

// withoutWebhooks deletes the webhook configurations (as an admin who
// bypasses Baton would), runs fn, and installs them again.
func withoutWebhooks(ctx context.Context, ns string, fn func()) {
	GinkgoHelper()
	mut := &admissionregistrationv1.MutatingWebhookConfiguration{}
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	Expect(admin.Get(ctx, types.NamespacedName{Name: mutatingName}, mut)).To(Succeed())
	Expect(admin.Get(ctx, types.NamespacedName{Name: validatingName}, val)).To(Succeed())
	Expect(admin.Delete(ctx, mut)).To(Succeed())
	Expect(admin.Delete(ctx, val)).To(Succeed())
	defer func() {
		mut.ObjectMeta = metav1.ObjectMeta{Name: mutatingName}
		val.ObjectMeta = metav1.ObjectMeta{Name: validatingName}
		Expect(admin.Create(ctx, mut)).To(Succeed())
		Expect(admin.Create(ctx, val)).To(Succeed())
		waitWebhookActive(ctx, ns)
	}()
	Eventually(func() error { return probe(ctx, ns) }).WithTimeout(20 * time.Second).Should(Succeed())
	fn()
}

// withDeadWebhooks points every webhook of both configurations (the
// Promotion's, the freezes' and the DeployWindows') at a port nobody
// listens on.
func withDeadWebhooks(ctx context.Context, ns string, fn func()) {
	GinkgoHelper()
	mut := &admissionregistrationv1.MutatingWebhookConfiguration{}
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	Expect(admin.Get(ctx, types.NamespacedName{Name: mutatingName}, mut)).To(Succeed())
	Expect(admin.Get(ctx, types.NamespacedName{Name: validatingName}, val)).To(Succeed())
	var urls []**string
	for i := range mut.Webhooks {
		urls = append(urls, &mut.Webhooks[i].ClientConfig.URL)
	}
	for i := range val.Webhooks {
		urls = append(urls, &val.Webhooks[i].ClientConfig.URL)
	}
	saved := make([]*string, len(urls))
	for i, u := range urls {
		saved[i] = *u
		s := "https://127.0.0.1:1/" + (**u)[strings.LastIndex(**u, "/")+1:]
		*u = &s
	}
	Expect(admin.Update(ctx, mut)).To(Succeed())
	Expect(admin.Update(ctx, val)).To(Succeed())
	defer func() {
		Expect(admin.Get(ctx, types.NamespacedName{Name: mutatingName}, mut)).To(Succeed())
		Expect(admin.Get(ctx, types.NamespacedName{Name: validatingName}, val)).To(Succeed())
		n := 0
		for i := range mut.Webhooks {
			mut.Webhooks[i].ClientConfig.URL, n = saved[n], n+1
		}
		for i := range val.Webhooks {
			val.Webhooks[i].ClientConfig.URL, n = saved[n], n+1
		}
		Expect(admin.Update(ctx, mut)).To(Succeed())
		Expect(admin.Update(ctx, val)).To(Succeed())
		waitWebhookActive(ctx, ns)
	}()
	Eventually(func() string {
		err := probe(ctx, ns)
		if err == nil {
			return "admitted"
		}
		return err.Error()
	}).WithTimeout(20 * time.Second).Should(ContainSubstring("failed calling webhook"))
	fn()
}

func toJSON(v any) []byte {
	GinkgoHelper()
	data, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return data
}

func runtimeDefaultConverter(in *batonv1alpha1.Promotion, out *unstructured.Unstructured) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(in)
	if err != nil {
		return err
	}
	out.Object = obj
	return nil
}
