package v1alpha1

// ClusterReference says how Baton reaches the cluster an Environment's
// workloads run in.
type ClusterReference struct {
	// KubeConfig is the kubeconfig Baton uses there. Its identity is all
	// Baton may do in that cluster: bind it to the Role in
	// config/remote-cluster (read the workloads and their Pods, patch their
	// images for direct delivery).
	// +required
	KubeConfig KubeConfigReference `json:"kubeConfig"`
}

// KubeConfigReference names the Secret that holds a kubeconfig, as Flux and
// Cluster API do.
type KubeConfigReference struct {
	// SecretRef names a Secret in the Environment's namespace, labelled
	// promotion.baton.dev/credentials: "true", whose key "value" holds the
	// kubeconfig. Its current context is used. It must
	// carry its certificates and credentials inline (certificate-authority-data,
	// client-certificate-data, token), reach an https:// server, and verify
	// TLS; exec and auth-provider plugins are refused unless the manager runs
	// with --insecure-kubeconfig-exec. A Secret that changes is picked up
	// without a restart.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`
}

// KubeConfigKey is the key of a kubeconfig Secret that holds the kubeconfig.
const KubeConfigKey = "value"

// ClusterStatus is what Baton last knew of an Environment's remote cluster.
type ClusterStatus struct {
	// Server is the address of the cluster's API server, from the
	// kubeconfig. Never its credentials.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Server string `json:"server,omitempty"`
}
