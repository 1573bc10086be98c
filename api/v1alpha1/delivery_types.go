package v1alpha1

// Delivery says how Baton changes the environment: exactly one of git or
// direct.
// +kubebuilder:validation:XValidation:rule="has(self.git) != has(self.direct)",message="exactly one of git or direct must be set"
type Delivery struct {
	// Git delivers by committing the new image to a config repository, which a
	// GitOps engine (Argo CD, Flux) then applies.
	// +optional
	Git *GitDelivery `json:"git,omitempty"`

	// Direct delivers by server-side applying the image field of the workload.
	// +optional
	Direct *DirectDelivery `json:"direct,omitempty"`

	// PinDigest writes the image by digest (repo@sha256:...; kustomize
	// images: digest) instead of by tag. A Promotion freezes the digest
	// when it resolves: the one the upstream verified, else the one the
	// registry gives for the tag at that moment (asked with the
	// imagePullSecrets of the workload and of its ServiceAccount). It never
	// falls back to the tag: a registry that cannot be asked holds the
	// Promotion (RegistryUnreachable, RegistryRateLimited) or fails it
	// (ImageNotFound, RegistryUnauthorized).
	// +optional
	PinDigest bool `json:"pinDigest,omitempty"`
}

// GitDelivery is a config repository Baton commits to.
// +kubebuilder:validation:XValidation:rule="has(self.edit) != has(self.edits)",message="exactly one of edit or edits must be set"
type GitDelivery struct {
	// URL of the repository: https://, http://, ssh:// or scp-like
	// git@host:path.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?://|ssh://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)\S+$`
	URL string `json:"url"`

	// Branch to commit to. Baton never force-pushes it.
	// +optional
	// +kubebuilder:default=main
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[^\s~^:?*\[\\]+$`
	Branch string `json:"branch,omitempty"`

	// Path is the directory inside the repository that the edit is relative
	// to. It may not be absolute nor contain "..". Empty means the root.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..')",message="path must be relative to the repository root and must not contain '..'"
	Path string `json:"path,omitempty"`

	// Edit says which file and field hold the image. Exactly one of edit
	// and edits is set.
	// +optional
	Edit *ManifestEdit `json:"edit,omitempty"`

	// Edits are several edits made in one commit: one per file or field
	// that holds the image, such as the web and the worker Deployment of
	// the same app. Each is relative to path, like edit. Baton writes all
	// of them or none, and a Promotion counts as delivered only when every
	// one of the fields holds its image. No two may set the same field.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.filter(y, (has(x.yaml) && has(y.yaml) && x.yaml.file == y.yaml.file && x.yaml.field == y.yaml.field) || (has(x.kustomize) && has(y.kustomize) && (has(x.kustomize.imageName) ? x.kustomize.imageName : '') == (has(y.kustomize.imageName) ? y.kustomize.imageName : '')) || (has(x.helm) && has(y.helm) && (has(x.helm.file) ? x.helm.file : 'values.yaml') == (has(y.helm.file) ? y.helm.file : 'values.yaml') && (has(x.helm.repositoryField) ? x.helm.repositoryField : '') == (has(y.helm.repositoryField) ? y.helm.repositoryField : '') && (has(x.helm.tagField) ? x.helm.tagField : '') == (has(y.helm.tagField) ? y.helm.tagField : '') && (has(x.helm.imageField) ? x.helm.imageField : '') == (has(y.helm.imageField) ? y.helm.imageField : ''))).size() <= 1)",message="two edits set the same field: the same yaml file and field, the same kustomize imageName, or the same helm file and fields; each field may be edited once"
	Edits []ManifestEdit `json:"edits,omitempty"`

	// SecretRef names a Secret in the Environment's namespace with the
	// credentials: username and password (or password alone as a token) for
	// HTTPS; identity (or ssh-privatekey) and known_hosts for SSH. The Secret
	// must be of type kubernetes.io/basic-auth or kubernetes.io/ssh-auth, or
	// labelled promotion.baton.dev/credentials: "true"; it is never sent over
	// plain http://. Empty means anonymous access.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// Author of Baton's commits. Empty means "Baton <baton@baton.dev>".
	// +optional
	Author *GitAuthor `json:"author,omitempty"`

	// PushBranch, when set, is where Baton pushes its commit instead of
	// branch, for a branch that is protected: the forge's own automation
	// opens the pull request, and the Promotion waits in Promoting with
	// reason AwaitingMerge until its commit is reachable from branch. Empty
	// means Baton pushes to branch.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[^\s~^:?*\[\\]+$`
	PushBranch string `json:"pushBranch,omitempty"`

	// RequestReconcile lists Flux objects that Baton annotates with
	// reconcile.fluxcd.io/requestedAt after each push, so that Flux fetches
	// and applies the commit at once instead of at its next interval.
	// Usually the GitRepository of the config repository; a Kustomization
	// reconciles by itself when its source has a new revision. A failed
	// request is only a warning Event: Flux still applies the commit on
	// its interval. Empty means Baton only pushes.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	RequestReconcile []FluxObjectReference `json:"requestReconcile,omitempty"`
}

// FluxObjectReference names a Flux object that Baton asks to reconcile.
type FluxObjectReference struct {
	// Kind of the object: GitRepository (source.toolkit.fluxcd.io/v1) or
	// Kustomization (kustomize.toolkit.fluxcd.io/v1).
	// +required
	// +kubebuilder:validation:Enum=GitRepository;Kustomization
	Kind string `json:"kind"`

	// Name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the object, typically flux-system.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
}

// GitAuthor is the author and committer of Baton's commits.
type GitAuthor struct {
	// Name of the author.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`

	// Email of the author.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	Email string `json:"email"`
}

// ManifestEdit selects exactly one way to write the image into the
// repository.
// +kubebuilder:validation:XValidation:rule="[has(self.kustomize), has(self.yaml), has(self.helm)].filter(x, x).size() == 1",message="exactly one of kustomize, yaml or helm must be set"
type ManifestEdit struct {
	// Kustomize sets the images: entry of <path>/kustomization.yaml.
	// +optional
	Kustomize *KustomizeEdit `json:"kustomize,omitempty"`

	// YAML sets one field in one file.
	// +optional
	YAML *YAMLFieldEdit `json:"yaml,omitempty"`

	// Helm sets the image fields of a Helm values file.
	// +optional
	Helm *HelmEdit `json:"helm,omitempty"`
}

// KustomizeEdit edits the images: list of a kustomization.
type KustomizeEdit struct {
	// ImageName is the "name" of the images: entry to set. Empty means the
	// repository of the image being promoted.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ImageName string `json:"imageName,omitempty"`
}

// YAMLFieldEdit sets one field, addressed by a path, in one file.
type YAMLFieldEdit struct {
	// File to edit, relative to the delivery path.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..')",message="file must be relative and must not contain '..'"
	File string `json:"file"`

	// Field is the path of the image field, such as
	// spec.template.spec.containers[name=web].image.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Field string `json:"field"`
}

// HelmEdit sets the image in a Helm values file, either as a repository and
// a tag field, or as one field holding the whole reference.
// +kubebuilder:validation:XValidation:rule="!has(self.imageField) || (!has(self.repositoryField) && !has(self.tagField))",message="imageField cannot be combined with repositoryField or tagField"
type HelmEdit struct {
	// File is the values file, relative to the delivery path.
	// +optional
	// +kubebuilder:default=values.yaml
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..')",message="file must be relative and must not contain '..'"
	File string `json:"file,omitempty"`

	// RepositoryField is the path of the repository field. Empty means
	// image.repository (unless imageField is set).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	RepositoryField string `json:"repositoryField,omitempty"`

	// TagField is the path of the tag field. Empty means image.tag (unless
	// imageField is set).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	TagField string `json:"tagField,omitempty"`

	// ImageField is the path of a single field holding the whole reference.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ImageField string `json:"imageField,omitempty"`
}

// DirectDelivery patches the workload with server-side apply, owning only the
// image field of the named container.
type DirectDelivery struct {
	// FieldManager is the server-side apply field manager. Empty means
	// "baton".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	FieldManager string `json:"fieldManager,omitempty"`
}

// ManifestEdits are the edits of one delivery: edits, or edit as its one
// entry.
func (in *GitDelivery) ManifestEdits() []ManifestEdit {
	if in.Edit != nil {
		return []ManifestEdit{*in.Edit}
	}
	return in.Edits
}
