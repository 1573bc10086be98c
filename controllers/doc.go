// Package controllers holds one reconciler per Baton kind; the RBAC markers
// here describe everything the manager may touch.
package controllers

// Baton patches (never updates) what it writes: finalizers and annotations on
// its objects, and status through the status subresource.
// +kubebuilder:rbac:groups=promotion.baton.dev,resources=environments;promotions,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=promotion.baton.dev,resources=environments/status;promotions/status,verbs=patch
// +kubebuilder:rbac:groups=promotion.baton.dev,resources=environments/finalizers;promotions/finalizers,verbs=update
// The engine creates automatic rollbacks and autoPromote Promotions, which
// the admission webhook authorizes like anyone else's, and deletes the
// finished Promotions beyond an Environment's spec.promotionHistoryLimit.
// +kubebuilder:rbac:groups=promotion.baton.dev,resources=promotions,verbs=create;delete
// +kubebuilder:rbac:groups=promotion.baton.dev,resources=notificationpolicies,verbs=get;list
// +kubebuilder:rbac:groups=promotion.baton.dev,resources=environments,verbs=promote;rollback
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch;patch
// The Environment reconciler reads the digests the kubelets report from its
// cache of Pods.
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// delivery.git.requestReconcile: Baton annotates Flux's GitRepositories and
// Kustomizations with reconcile.fluxcd.io/requestedAt after a push.
// +kubebuilder:rbac:groups=source.toolkit.fluxcd.io,resources=gitrepositories,verbs=patch
// +kubebuilder:rbac:groups=kustomize.toolkit.fluxcd.io,resources=kustomizations,verbs=patch

// The admission key Secret (internal/identity) is created at start-up in the
// manager's own namespace only; config/rbac/manager_key_role_binding.yaml
// binds this namespaced Role.
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=create

// The self-managed webhook certificate (internal/certs, cert-controller):
// its cache lists and watches the webhook configurations and the Secrets of
// the manager's namespace; it writes only the certificate Secret and the
// two configurations, by name. config/default renames these resourceNames
// along with the objects (config/default/kustomizeconfig.yaml).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,resourceNames=mutating-webhook-configuration,verbs=update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=validating-webhook-configuration,verbs=update
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=list;watch
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,resourceNames=webhook-server-cert,verbs=update
