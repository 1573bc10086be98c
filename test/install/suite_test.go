package install_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
)

var (
	testEnv *envtest.Environment
	scheme  = runtime.NewScheme()
	admin   client.Client
	// rendered is config/default as `make deploy` renders it.
	rendered []*unstructured.Unstructured
)

func TestInstall(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Install suite")
}

// render builds a kustomization under config/ with the kustomize library,
// exactly as the kustomize binary behind `make deploy` does.
func render(dir string) ([]*unstructured.Unstructured, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.RepoRoot(), "config", dir))
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		// Through JSON, so that numbers are int64 as the API machinery wants.
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(data); err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

var _ = BeforeSuite(func() {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		Fail("KUBEBUILDER_ASSETS is not set: point it at bin/k8s/<version> (make test does)")
	}
	logf.SetLogger(zap.New(zap.WriteTo(io.Writer(GinkgoWriter)), zap.UseDevMode(true)))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(batonv1alpha1.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))

	var err error
	rendered, err = render("default")
	Expect(err).NotTo(HaveOccurred())

	// No CRDs up front: the install brings its own.
	testEnv = &envtest.Environment{}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	admin, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if stopManagers != nil {
		stopManagers()
		managersDone.Wait()
	}
	for _, r := range replicas {
		Expect(os.RemoveAll(r.certDir)).To(Succeed())
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// find returns the rendered object of that kind and name, or fails.
func find(kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	for _, o := range rendered {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	Fail("config/default renders no " + kind + " " + name)
	return nil
}

var _ = Describe("config/certmanager", func() {
	It("renders config/default with cert-manager issuing the certificate and the manager's rotation off", func() {
		objs, err := render("certmanager")
		Expect(err).NotTo(HaveOccurred())
		var kinds []string
		for _, o := range objs {
			kinds = append(kinds, o.GetKind())
			switch o.GetKind() {
			case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
				Expect(o.GetAnnotations()).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", "baton-system/baton-serving-cert"))
			case "Certificate":
				secretName, _, _ := unstructured.NestedString(o.Object, "spec", "secretName")
				Expect(secretName).To(Equal("baton-webhook-server-cert"))
				dnsNames, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "dnsNames")
				Expect(dnsNames).To(ContainElement("baton-webhook-service.baton-system.svc"))
			case "Deployment":
				containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
				Expect(args[len(args)-1]).To(Equal("--enable-cert-rotation=false"))
			}
		}
		Expect(kinds).To(ContainElements("Certificate", "Issuer", "Deployment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"))
	})
})
