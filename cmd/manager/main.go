// Command manager runs Baton's controllers and admission webhook.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/controllers"
	"github.com/baton-dev/baton/internal/certs"
	"github.com/baton-dev/baton/internal/commitstatus"
	"github.com/baton-dev/baton/internal/delivery"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/gitdelivery"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/notify"
	"github.com/baton-dev/baton/internal/registry"
	"github.com/baton-dev/baton/internal/remote"
	"github.com/baton-dev/baton/internal/source"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/internal/workload"
)

var setupLog = ctrl.Log.WithName("setup")

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(batonv1alpha1.AddToScheme(scheme))
	return scheme
}

func main() {
	var (
		metricsAddr          string
		probeAddr            string
		enableLeaderElection bool
		leaderElectionNS     string
		webhookPort          int
		webhookCertDir       string
		concurrency          int
		enableHTTP2          bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "The address the metrics endpoint binds to. Use 0 to disable it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the health and readiness probes bind to.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "The namespace of the leader election Lease. Empty means the manager's own namespace.")
	flag.IntVar(&webhookPort, "webhook-port", 9443, "The port the admission webhook server listens on.")
	webhookHost := flag.String("webhook-host", "", "The address the admission webhook server binds to. Empty means every interface, as in a Pod; 127.0.0.1 for a manager run on a workstation.")
	flag.StringVar(&webhookCertDir, "webhook-cert-dir", "", "The directory holding tls.crt and tls.key for the webhook server. Empty means <temp>/k8s-webhook-server/serving-certs.")
	flag.IntVar(&concurrency, "concurrency", 4, "How many objects of each kind are reconciled in parallel.")
	promotionConcurrency := flag.Int("promotion-concurrency", controllers.DefaultPromotionConcurrency, "How many Promotions are reconciled in parallel. Git delivery runs off these workers, so a burst of Promotions reaches the group commit together.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Serve the webhook and metrics over HTTP/2 as well as HTTP/1.1.")
	admissionKeySecret := flag.String("admission-key-secret", "baton-admission-key", "The Secret, in the manager's namespace, holding the key of the Promotion admission marker. Created at start-up when missing.")
	gitCacheDir := flag.String("git-cache-dir", gitdelivery.DefaultCacheDir(), "The directory holding Baton's working clones of config repositories for delivery.git. An emptyDir is enough: a lost cache is cloned again.")
	admissionKeyNamespace := flag.String("admission-key-namespace", "", "The namespace of --admission-key-secret. Empty means the manager's own namespace (POD_NAMESPACE, else the service account's).")
	// The self-managed webhook certificate (internal/certs). The default
	// names are the ones config/default renders.
	certRotation := flag.Bool("enable-cert-rotation", true, "Issue, rotate and publish the webhook serving certificate from this manager (no cert-manager needed). Set it to false when cert-manager or another tool fills --webhook-cert-dir and the CA bundle.")
	webhookServiceName := flag.String("webhook-service-name", "baton-webhook-service", "The Service, in the manager's namespace, in front of the admission webhook; the serving certificate is issued for <name>.<namespace>.svc.")
	webhookSecretName := flag.String("webhook-cert-secret", "baton-webhook-server-cert", "The Secret, in the manager's namespace and mounted at --webhook-cert-dir, that holds the webhook CA and serving certificate.")
	mutatingWebhookName := flag.String("mutating-webhook-configuration", "baton-mutating-webhook-configuration", "The MutatingWebhookConfiguration that receives the CA bundle.")
	validatingWebhookName := flag.String("validating-webhook-configuration", "baton-validating-webhook-configuration", "The ValidatingWebhookConfiguration that receives the CA bundle.")
	webhookClientCA := flag.String("webhook-client-ca-file", "", "A PEM file of the CA that signs the API server's client certificate for webhooks. When set, the webhook server refuses, during the TLS handshake, every caller without a certificate from it (docs/install.md#authenticating-the-api-server). Empty accepts any caller, who can then obtain admission markers.")
	webhookClientNames := flag.String("webhook-client-names", "", "Comma-separated Common Names or DNS names, one of which the caller's client certificate must carry; only with --webhook-client-ca-file. Empty accepts any certificate the CA signed.")
	allowedGitHosts := flag.String("allowed-git-hosts", "", "Comma-separated hosts that delivery.git.url and spec.source.git.url may name (\".example.com\" for every host under example.com). Empty allows every host.")
	promotionURL := flag.String("promotion-url", "", "A Promotion's page in your console, with {namespace} and {name}, such as https://console.example.com/k8s/ns/{namespace}/promotion.baton.dev~v1alpha1~Promotion/{name}: the promotionURL of notifications. Empty links nothing.")
	allowedRegistryHosts := flag.String("allowed-registry-hosts", "", "Comma-separated registry hosts Baton may ask for a tag's digest (delivery.pinDigest, spec.source.waitForImage; \".example.com\" for every host under example.com; Docker Hub is index.docker.io). Empty allows every host.")
	allowedPrometheusHosts := flag.String("allowed-prometheus-hosts", "", "Comma-separated hosts that spec.verification.checks[].prometheus.address may name (\".example.com\" for every host under example.com). Empty allows every host.")
	insecureHTTPGitHosts := flag.String("insecure-http-git-hosts", "", "Comma-separated loopback hosts that may be sent Git credentials over plain http://, for a development cluster. Empty sends credentials only over https:// and SSH.")
	insecureKubeconfigExec := flag.Bool("insecure-kubeconfig-exec", false, "Accept spec.cluster kubeconfigs with exec or auth-provider plugins. Such a kubeconfig runs a program of its author's choice inside the manager, with the manager's identity and files: leave it off unless only trusted people can write kubeconfig Secrets (docs/clusters.md).")
	hooksAddr := flag.String("hooks-bind-address", ":9292", "The address the push webhook receiver (/hooks/<namespace>/<environment>) listens on, on every replica.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if concurrency < 1 {
		setupLog.Error(nil, "--concurrency must be at least 1", "concurrency", concurrency)
		os.Exit(2)
	}

	// HTTP/2 stays off by default: it exposes the servers to the HTTP/2
	// Rapid Reset and Stream Cancellation CVEs.
	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}

	webhookTLSOpts := tlsOpts
	if *webhookClientCA != "" {
		clientAuth, err := certs.ClientAuth(*webhookClientCA, splitNames(*webhookClientNames))
		if err != nil {
			setupLog.Error(err, "unable to set up webhook client authentication")
			os.Exit(1)
		}
		webhookTLSOpts = append(slices.Clip(tlsOpts), clientAuth)
	} else {
		setupLog.Info("the admission webhook accepts any caller: pass --webhook-client-ca-file so that only the API server gets an answer (docs/security.md)")
	}

	// With rotation on, the webhook server waits for the certificate and
	// readiness waits for it too; every replica rotates (see internal/certs).
	var webhookServer webhook.Server = webhook.NewServer(webhook.Options{
		Host:    *webhookHost,
		Port:    webhookPort,
		CertDir: webhookCertDir,
		TLSOpts: webhookTLSOpts,
	})
	var rotation *certs.Rotation
	if *certRotation {
		if webhookCertDir == "" {
			webhookCertDir = certs.DefaultCertDir()
		}
		namespace, err := identity.ManagerNamespace(*admissionKeyNamespace)
		if err == nil {
			rotation, err = certs.New(certs.Options{
				Namespace:                      namespace,
				SecretName:                     *webhookSecretName,
				ServiceName:                    *webhookServiceName,
				CertDir:                        webhookCertDir,
				MutatingWebhookConfiguration:   *mutatingWebhookName,
				ValidatingWebhookConfiguration: *validatingWebhookName,
			})
		}
		if err != nil {
			setupLog.Error(err, "unable to set up webhook certificate rotation (or pass --enable-cert-rotation=false)")
			os.Exit(1)
		}
		webhookServer = rotation.WebhookServer(webhookServer)
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  newScheme(),
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr, TLSOpts: tlsOpts},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        "baton.promotion.baton.dev",
		LeaderElectionNamespace: leaderElectionNS,
		// main exits as soon as the manager stops, so the next replica can
		// take the lease at once instead of waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
		WebhookServer:                 webhookServer,
		Controller:                    config.Controller{MaxConcurrentReconciles: concurrency},
		// Workloads are cached slimmed down to what Baton reads.
		Cache: controllers.CacheOptions(),
	})
	if err != nil {
		setupLog.Error(err, "unable to create the manager")
		os.Exit(1)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up the readiness check")
		os.Exit(1)
	}
	if rotation != nil {
		if err := rotation.AddToManager(mgr); err != nil {
			setupLog.Error(err, "unable to set up webhook certificate rotation")
			os.Exit(1)
		}
		if err := mgr.AddReadyzCheck("webhook-certs", rotation.Checker); err != nil {
			setupLog.Error(err, "unable to set up the certificate readiness check")
			os.Exit(1)
		}
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			setupLog.Error(err, "unable to set up the webhook readiness check")
			os.Exit(1)
		}
	}

	if err := controllers.SetupIndexes(context.Background(), mgr); err != nil {
		setupLog.Error(err, "unable to set up the field indexes")
		os.Exit(1)
	}
	// One workload accessor, for this cluster and the remote ones of
	// spec.cluster, shared by the Environment reconciler (reads) and direct
	// delivery (applies).
	clusters := controllers.NewClusters(mgr, *insecureKubeconfigExec)
	workloads := &remote.Workloads{Local: workload.NewLocal(mgr.GetClient(), mgr.GetAPIReader()), Clusters: clusters}
	if err := (&controllers.EnvironmentReconciler{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorder("environment-controller"),
		Clock:     clock.RealClock{},
		Workloads: workloads,
		Clusters:  clusters,
		Querier:   verification.PrometheusQuerier{AllowedHosts: splitNames(*allowedPrometheusHosts)},
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "unable to set up the Environment controller")
		os.Exit(1)
	}

	// Who promoted, who approved: the Promotion admission webhook, and the
	// Runnable that creates its key Secret (internal/identity).
	keyNamespace, err := identity.ManagerNamespace(*admissionKeyNamespace)
	if err != nil {
		setupLog.Error(err, "unable to find the admission key namespace")
		os.Exit(1)
	}
	self, err := identity.NewSelf(mgr)
	if err != nil {
		setupLog.Error(err, "unable to set up the SelfSubjectReview client")
		os.Exit(1)
	}
	admissionKeys, err := identity.SetupWebhook(mgr, types.NamespacedName{Namespace: keyNamespace, Name: *admissionKeySecret}, self, clusters)
	if err != nil {
		setupLog.Error(err, "unable to set up the Promotion admission webhook")
		os.Exit(1)
	}

	// Without it, only ControllerUser proves an automatic rollback Baton's
	// own, and a rollback the webhook stamped is never adopted: say so.
	// The webhook asks the same Self, which remembers the answer.
	selfName, err := self.Username(context.Background())
	if err != nil {
		setupLog.Error(err, "unable to learn the manager's own username; automatic rollbacks will not be adopted")
	}
	network, err := gitNetwork(*allowedGitHosts, *insecureHTTPGitHosts)
	if err != nil {
		setupLog.Error(err, "invalid flag")
		os.Exit(2)
	}
	// Baton's commits are signed with a key derived from the admission key,
	// which only the manager reads.
	gitDeliverer := gitdelivery.New(mgr.GetAPIReader(), *gitCacheDir, admissionKeys)
	gitDeliverer.Network = network
	// Phase changes go to NotificationPolicies from a bounded queue, off
	// the reconcile path.
	promotionLink, err := notify.ParsePromotionLink(*promotionURL)
	if err != nil {
		setupLog.Error(err, "invalid --promotion-url")
		os.Exit(1)
	}
	notifier := notify.New(mgr.GetAPIReader(), 1000, ctrl.Log.WithName("notify"))
	if err := mgr.Add(notifier); err != nil {
		setupLog.Error(err, "unable to set up notifications")
		os.Exit(1)
	}
	// States on the source commits go to the forge the same way, on the
	// hosts --allowed-git-hosts allows (the forge is the Git server).
	commitStatuses := commitstatus.New(mgr.GetAPIReader(), mgr.GetClient(), 2, 1000, ctrl.Log.WithName("commitstatus"))
	commitStatuses.AllowedHosts = network.AllowedHosts
	if err := mgr.Add(commitStatuses); err != nil {
		setupLog.Error(err, "unable to set up commit statuses")
		os.Exit(1)
	}
	deliveryDone := make(chan event.GenericEvent)
	gitDeliverer.Notify = controllers.NotifyOn(deliveryDone)
	if err := (&controllers.PromotionReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("promotion-controller"),
		Clock:     clock.RealClock{},
		Deliverer: controllers.Deliverers(
			&delivery.Direct{Workloads: workloads},
			gitDeliverer),
		Admission:      admissionKeys,
		Self:           selfName,
		Notifier:       notifier,
		PromotionLink:  promotionLink,
		CommitStatuses: commitStatuses,
		Freezes:        admissionKeys,
		Concurrency:    *promotionConcurrency,
		DeliveryDone:   deliveryDone,
		Jobs:           workloads,
		RemoteJobs:     controllers.WakeOnRemoteJobs(clusters),
		Registry:       &registry.Resolver{AllowedHosts: splitNames(*allowedRegistryHosts)},
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "unable to set up the Promotion controller")
		os.Exit(1)
	}
	if err := (&controllers.AutoPromoteReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("autopromote-controller"),
		Admission: admissionKeys,
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "unable to set up the autoPromote controller")
		os.Exit(1)
	}

	// Merge to main deploys: the source controller follows each entry
	// Environment's spec.source, and every replica answers push webhooks
	// (internal/source).
	if err := source.CheckAddr(*hooksAddr); err != nil {
		setupLog.Error(err, "invalid flag")
		os.Exit(2)
	}
	if err := (&controllers.SourceReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("source-controller"),
		Admission: admissionKeys,
		Cache:     &source.Cache{Dir: *gitCacheDir, Network: network},
		Clock:     clock.RealClock{},
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "unable to set up the source controller")
		os.Exit(1)
	}
	if err := mgr.Add(&source.Receiver{
		Addr:   *hooksAddr,
		Reader: mgr.GetAPIReader(),
		Client: mgr.GetClient(),
		Log:    ctrl.Log.WithName("hooks"),
	}); err != nil {
		setupLog.Error(err, "unable to set up the webhook receiver")
		os.Exit(1)
	}

	setupLog.Info("starting the manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "the manager stopped with an error")
		os.Exit(1)
	}
}

// splitNames splits a comma-separated flag, dropping empty entries.
func splitNames(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// gitNetwork builds the policy of Git URLs from the flags. Plain HTTP with
// credentials is only ever allowed to a loopback host.
func gitNetwork(allowed, insecureHTTP string) (batongit.Network, error) {
	n := batongit.Network{AllowedHosts: splitNames(allowed), PlainHTTPHosts: splitNames(insecureHTTP)}
	for _, h := range n.PlainHTTPHosts {
		if !batongit.IsLoopback(h) {
			return n, fmt.Errorf("--insecure-http-git-hosts: %q is not a loopback host; credentials travel over plain HTTP only inside the manager's own host", h)
		}
	}
	return n, nil
}
