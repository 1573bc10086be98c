package install_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/certs"
	"github.com/baton-dev/baton/internal/identity"
)

const (
	namespace      = "baton-system"
	serviceAccount = "system:serviceaccount:baton-system:baton-controller-manager"
	certSecret     = "baton-webhook-server-cert"
	serviceName    = "baton-webhook-service"
	mutatingName   = "baton-mutating-webhook-configuration"
	validatingName = "baton-validating-webhook-configuration"
)

var (
	stopManagers context.CancelFunc
	managersDone sync.WaitGroup
	replicas     []*replica
)

// replica is one in-process manager wired like cmd/manager.
type replica struct {
	mgr      ctrl.Manager
	rotation *certs.Rotation
	port     int
	certDir  string
}

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newReplica builds a manager that authenticates as the manager's service
// account, so that only the installed RBAC lets it work.
func newReplica(user *envtest.AuthenticatedUser, index int) *replica {
	GinkgoHelper()
	// Outlives the spec: the replicas run until AfterSuite.
	dir, err := os.MkdirTemp("", "baton-install-certs-")
	Expect(err).NotTo(HaveOccurred())
	r := &replica{port: freePort(), certDir: dir}
	r.rotation, err = certs.New(certs.Options{
		Namespace: namespace, SecretName: certSecret, ServiceName: serviceName, CertDir: r.certDir,
		MutatingWebhookConfiguration: mutatingName, ValidatingWebhookConfiguration: validatingName,
		// Two replicas share this test process, and controller names are
		// unique per process.
		ControllerName: "cert-rotator-" + strconv.Itoa(index),
	})
	Expect(err).NotTo(HaveOccurred())
	r.mgr, err = ctrl.NewManager(user.Config(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          true,
		LeaderElectionID:        "baton.promotion.baton.dev",
		LeaderElectionNamespace: namespace,
		WebhookServer: r.rotation.WebhookServer(webhook.NewServer(webhook.Options{
			Host: "127.0.0.1", Port: r.port, CertDir: r.certDir,
		})),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.rotation.AddToManager(r.mgr)).To(Succeed())
	self, err := identity.NewSelf(r.mgr)
	Expect(err).NotTo(HaveOccurred())
	_, err = identity.SetupWebhook(r.mgr, types.NamespacedName{Namespace: namespace, Name: "baton-admission-key"}, self, nil)
	Expect(err).NotTo(HaveOccurred())
	return r
}

// projectSecret does the kubelet's part: it writes the certificate Secret's
// keys into the replica's certificate directory whenever they change, key
// before certificate, each by rename, as the Secret volume would show them.
func projectSecret(ctx context.Context, dir string) {
	defer GinkgoRecover()
	for {
		s := &corev1.Secret{}
		if err := admin.Get(ctx, types.NamespacedName{Namespace: namespace, Name: certSecret}, s); err == nil {
			for _, k := range []string{"tls.key", "tls.crt"} {
				v := s.Data[k]
				if len(v) == 0 {
					break
				}
				path := filepath.Join(dir, k)
				if old, _ := os.ReadFile(path); bytes.Equal(old, v) {
					continue
				}
				Expect(os.WriteFile(path+".tmp", v, 0o600)).To(Succeed())
				Expect(os.Rename(path+".tmp", path)).To(Succeed())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var _ = Describe("make deploy", Ordered, func() {
	It("installs every rendered object on a real API server", func(ctx SpecContext) {
		for _, obj := range rendered {
			if obj.GetKind() == "CustomResourceDefinition" || obj.GetKind() == "Namespace" {
				apply(ctx, obj)
			}
		}
		for _, name := range []string{"environments.promotion.baton.dev", "promotions.promotion.baton.dev"} {
			Eventually(func(g Gomega) {
				crd := &apiextensionsv1.CustomResourceDefinition{}
				g.Expect(admin.Get(ctx, types.NamespacedName{Name: name}, crd)).To(Succeed())
				g.Expect(crd.Status.Conditions).To(ContainElement(And(
					HaveField("Type", apiextensionsv1.Established), HaveField("Status", apiextensionsv1.ConditionTrue))))
			}, "30s").Should(Succeed())
		}
		// Everything else for real; no kubelet runs the Deployment's pods.
		for _, obj := range rendered {
			apply(ctx, obj)
		}
	})

	It("renders an HA manager Deployment wired to the webhook Service and Secret", func() {
		dep := &appsv1.Deployment{}
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(find("Deployment", "baton-controller-manager").Object, dep)).To(Succeed())
		Expect(*dep.Spec.Replicas).To(BeNumerically(">=", 2))
		pod := dep.Spec.Template.Spec
		c := pod.Containers[0]
		Expect(c.Args).To(ContainElements("--leader-elect", "--webhook-port=9443"))
		Expect(c.Env).To(ContainElement(HaveField("ValueFrom.FieldRef.FieldPath", "metadata.namespace")))
		Expect(c.Ports).To(ContainElement(HaveField("ContainerPort", int32(9443))))
		Expect(c.Resources.Requests).NotTo(BeEmpty())
		Expect(c.Resources.Limits).NotTo(BeEmpty())
		Expect(c.LivenessProbe).NotTo(BeNil())
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())

		// The flags' defaults in cmd/manager are the rendered names.
		var certDir string
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--webhook-cert-dir="); ok {
				certDir = v
			}
		}
		Expect(c.VolumeMounts).To(ContainElement(And(HaveField("MountPath", certDir), HaveField("Name", "webhook-certs"))))
		Expect(pod.Volumes).To(ContainElement(And(HaveField("Name", "webhook-certs"), HaveField("Secret.SecretName", certSecret))))
		find("Secret", certSecret)
		find("PodDisruptionBudget", "baton-controller-manager")
		find("NetworkPolicy", "baton-allow-webhook-and-metrics")
		svc := find("Service", serviceName)
		ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		Expect(ports[0]).To(HaveKeyWithValue("targetPort", BeEquivalentTo(9443)))
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			name := map[string]string{"MutatingWebhookConfiguration": mutatingName, "ValidatingWebhookConfiguration": validatingName}[kind]
			hooks, _, _ := unstructured.NestedSlice(find(kind, name).Object, "webhooks")
			Expect(hooks[0]).To(HaveKeyWithValue("clientConfig", HaveKeyWithValue("service", And(
				HaveKeyWithValue("name", serviceName), HaveKeyWithValue("namespace", namespace)))))
		}
	})

	It("offers DEPLOY_CONFIG=webhook-client-auth: the webhook trusts the client CA mounted from a ConfigMap", func() {
		objs, err := render("webhook-client-auth")
		Expect(err).NotTo(HaveOccurred())
		var dep *appsv1.Deployment
		for _, o := range objs {
			if o.GetKind() == "Deployment" && o.GetName() == "baton-controller-manager" {
				dep = &appsv1.Deployment{}
				Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, dep)).To(Succeed())
			}
		}
		Expect(dep).NotTo(BeNil())
		c := dep.Spec.Template.Spec.Containers[0]
		Expect(c.Args).To(ContainElements("--webhook-client-ca-file=/var/run/baton/webhook-client-ca/ca.crt", "--webhook-client-names=kube-apiserver-webhook-client"))
		Expect(c.VolumeMounts).To(ContainElement(And(HaveField("MountPath", "/var/run/baton/webhook-client-ca"), HaveField("Name", "webhook-client-ca"))))
		Expect(dep.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("Name", "webhook-client-ca"), HaveField("ConfigMap.Name", "baton-webhook-client-ca"))))
	})

	It("names in the manager's roles only objects the install creates", func() {
		for _, key := range []string{"ClusterRole/baton-manager-role", "Role/baton-manager-role"} {
			kind, name, _ := strings.Cut(key, "/")
			role := &rbacv1.ClusterRole{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(find(kind, name).Object, role)).To(Succeed())
			for _, rule := range role.Rules {
				for _, rn := range rule.ResourceNames {
					kinds := map[string]string{"secrets": "Secret", "mutatingwebhookconfigurations": "MutatingWebhookConfiguration",
						"validatingwebhookconfigurations": "ValidatingWebhookConfiguration"}
					Expect(rule.Resources).To(HaveLen(1))
					find(kinds[rule.Resources[0]], rn)
				}
			}
		}
	})

	It("issues the certificate and injects the CA on every replica, leader or not, with the manager's own RBAC", func(ctx SpecContext) {
		user, err := testEnv.AddUser(envtest.User{Name: serviceAccount, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace}}, nil)
		Expect(err).NotTo(HaveOccurred())
		mgrCtx, cancel := context.WithCancel(context.Background())
		stopManagers = cancel
		for i := range 2 {
			r := newReplica(user, i)
			replicas = append(replicas, r)
			managersDone.Add(2)
			go func() { defer managersDone.Done(); projectSecret(mgrCtx, r.certDir) }()
			go func() {
				defer GinkgoRecover()
				defer managersDone.Done()
				Expect(r.mgr.Start(mgrCtx)).To(Succeed())
			}()
		}

		for i, r := range replicas {
			Eventually(r.rotation.Ready(), "90s").Should(BeClosed(), "replica %d never had its certificate", i)
			Eventually(func() error { return r.mgr.GetWebhookServer().StartedChecker()(nil) }, "30s").Should(Succeed())
			Expect(r.rotation.Checker(nil)).To(Succeed())
		}
		Eventually(func() int { return len(leaders(replicas)) }, "60s").Should(Equal(1))

		secret := &corev1.Secret{}
		Expect(admin.Get(ctx, types.NamespacedName{Namespace: namespace, Name: certSecret}, secret)).To(Succeed())
		Expect(secret.Data).To(HaveKey("ca.crt"))
		Expect(secret.Data).To(HaveKey("ca.key"))
		Expect(secret.Data).To(HaveKey("tls.key"))
		roots := x509.NewCertPool()
		Expect(roots.AppendCertsFromPEM(secret.Data["ca.crt"])).To(BeTrue())
		block, _ := pem.Decode(secret.Data["tls.crt"])
		Expect(block).NotTo(BeNil())
		cert, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		_, err = cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: serviceName + "." + namespace + ".svc"})
		Expect(err).NotTo(HaveOccurred())

		for _, gvk := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			name := map[string]string{"MutatingWebhookConfiguration": mutatingName, "ValidatingWebhookConfiguration": validatingName}[gvk]
			Eventually(func(g Gomega) {
				wh := &unstructured.Unstructured{}
				wh.SetAPIVersion("admissionregistration.k8s.io/v1")
				wh.SetKind(gvk)
				g.Expect(admin.Get(ctx, types.NamespacedName{Name: name}, wh)).To(Succeed())
				hooks, _, _ := unstructured.NestedSlice(wh.Object, "webhooks")
				g.Expect(hooks).NotTo(BeEmpty())
				for _, h := range hooks {
					bundle, _, _ := unstructured.NestedString(h.(map[string]any), "clientConfig", "caBundle")
					g.Expect(base64.StdEncoding.DecodeString(bundle)).To(Equal(secret.Data["ca.crt"]))
				}
			}).Should(Succeed())
		}
	})

	It("admits a Promotion through the webhook Service, served by a replica that is not the leader", func(ctx SpecContext) {
		Expect(replicas).To(HaveLen(2))
		follower := replicas[0]
		if len(leaders(replicas)) == 1 && leaders(replicas)[0] == follower {
			follower = replicas[1]
		}
		// The local equivalent of the Service: the API server resolves an
		// ExternalName Service to localhost, dials the webhook's port and
		// verifies the certificate for baton-webhook-service.baton-system.svc
		// against the injected CA bundle.
		svc := &corev1.Service{}
		Expect(admin.Get(ctx, types.NamespacedName{Namespace: namespace, Name: serviceName}, svc)).To(Succeed())
		Expect(admin.Delete(ctx, svc)).To(Succeed())
		Expect(admin.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: serviceName},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"},
		})).To(Succeed())
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			name := map[string]string{"MutatingWebhookConfiguration": mutatingName, "ValidatingWebhookConfiguration": validatingName}[kind]
			wh := &unstructured.Unstructured{}
			wh.SetAPIVersion("admissionregistration.k8s.io/v1")
			wh.SetKind(kind)
			Expect(admin.Get(ctx, types.NamespacedName{Name: name}, wh)).To(Succeed())
			hooks, _, _ := unstructured.NestedSlice(wh.Object, "webhooks")
			// Every webhook of the configuration (Promotions, freezes,
			// deploy windows) goes to the follower.
			var ops []string
			for i := range hooks {
				ops = append(ops, `{"op":"replace","path":"/webhooks/`+itoa(i)+`/clientConfig/service/port","value":`+itoa(follower.port)+`}`)
			}
			patch := []byte("[" + strings.Join(ops, ",") + "]")
			Expect(admin.Patch(ctx, wh, client.RawPatch(types.JSONPatchType, patch))).To(Succeed())
		}

		user, err := testEnv.AddUser(envtest.User{Name: "alice", Groups: []string{"developers"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		alice, err := client.New(user.Config(), client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})).To(Succeed())
		Expect(admin.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alice-promotes"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "baton-promoter"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}},
		})).To(Succeed())

		promo := &batonv1alpha1.Promotion{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web-1"},
			Spec: batonv1alpha1.PromotionSpec{
				Environment: "production",
				RequestedBy: &batonv1alpha1.UserInfo{Username: "somebody-else"},
			},
		}
		// The port patch races the rotator's own writes; retry until it holds.
		Eventually(func() error { return alice.Create(ctx, promo.DeepCopy()) }, "30s").Should(Succeed())
		got := &batonv1alpha1.Promotion{}
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(promo), got)).To(Succeed())
		Expect(got.Spec.RequestedBy).NotTo(BeNil())
		Expect(got.Spec.RequestedBy.Username).To(Equal("alice"))
		Expect(got.Annotations).To(HaveKey(batonv1alpha1.AdmissionMarkerAnnotation))
	})
})

// leaders returns the replicas that won the leader election.
func leaders(rs []*replica) []*replica {
	var out []*replica
	for _, r := range rs {
		select {
		case <-r.mgr.Elected():
			out = append(out, r)
		default:
		}
	}
	return out
}

// apply server-side applies one rendered object as the installer would.
func apply(ctx context.Context, obj *unstructured.Unstructured) {
	GinkgoHelper()
	Expect(admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.DeepCopy()),
		client.FieldOwner("baton-install"), client.ForceOwnership)).To(Succeed(), "apply %s %s", obj.GetKind(), obj.GetName())
}

func itoa(i int) string { return strconv.Itoa(i) }
