package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus: Reconciling
// is True while work is in progress, Stalled is True when a person must act,
// and Ready is True when the object is where it should be.
const (
	// ReadyCondition: an Environment is healthy at a known revision; a
	// Promotion has succeeded.
	ReadyCondition = "Ready"
	// ReconcilingCondition: Baton is working towards the desired state.
	ReconcilingCondition = "Reconciling"
	// StalledCondition: Baton cannot go on until someone fixes the spec or the
	// referenced objects; the reason says what.
	StalledCondition = "Stalled"
	// VerifiedCondition: the Environment's current image has been complete and
	// healthy for the soak time.
	VerifiedCondition = "Verified"
	// DriftedCondition: the workload's image was changed by someone other than
	// Baton. Baton records it and never reverts it on its own.
	DriftedCondition = "Drifted"
	// SuspendedCondition: spec.suspend is set; new Promotions and autoPromote
	// wait, rollbacks still run.
	SuspendedCondition = "Suspended"
	// HeldCondition: autoPromote is skipping an image this Environment was
	// rolled back away from.
	HeldCondition = "Held"
	// ApprovedCondition: a Promotion has the approvals its Environment
	// requires, for its resolved image.
	ApprovedCondition = "Approved"
	// AutoPromoteCondition: with spec.autoPromote, what autoPromote last
	// decided for the Environment's generation: True when a Promotion of the
	// upstream's newest verified image exists, False with the reason it
	// created none.
	AutoPromoteCondition = "AutoPromote"
)

// Condition reasons. Event reasons are the same constants.
const (
	// ProgressingReason: work is in progress.
	ProgressingReason = "Progressing"
	// SucceededReason: the desired state was reached.
	SucceededReason = "Succeeded"
	// HealthyReason: the workload's rollout is complete and available.
	HealthyReason = "Healthy"
	// RolloutInProgressReason: the workload is still rolling out.
	RolloutInProgressReason = "RolloutInProgress"
	// RolloutFailedReason: the rollout reported a failure, such as
	// ProgressDeadlineExceeded.
	RolloutFailedReason = "RolloutFailed"
	// ReleasingReason: the release Job runs; no workload has changed yet.
	ReleasingReason = "Releasing"
	// ReleaseFailedReason: the release Job failed or passed
	// spec.release.timeout; no workload was changed.
	ReleaseFailedReason = "ReleaseFailed"
	// WorkloadClaimedReason: another Environment already names one of this
	// Environment's workloads; the first one (oldest) keeps it.
	WorkloadClaimedReason = "WorkloadClaimed"
	// WorkloadListedTwiceReason: spec.workloads names one workload twice.
	WorkloadListedTwiceReason = "WorkloadListedTwice"
	// WorkloadsDisagreeReason: the Environment's workloads do not all run
	// the same image.
	WorkloadsDisagreeReason = "WorkloadsDisagree"
	// WorkloadNotFoundReason: the referenced workload does not exist.
	WorkloadNotFoundReason = "WorkloadNotFound"
	// ContainerNotFoundReason: the workload has no container of that name.
	ContainerNotFoundReason = "ContainerNotFound"
	// WorkloadNotAuthorizedReason: a workload in another namespace lacks the
	// promotion.baton.dev/authorized-environment annotation naming this
	// Environment.
	WorkloadNotAuthorizedReason = "WorkloadNotAuthorized"
	// UpstreamNotFoundReason: spec.upstream names no Environment.
	UpstreamNotFoundReason = "UpstreamNotFound"
	// SoakingReason: the image is healthy, and the soak time is running.
	SoakingReason = "Soaking"
	// VerifiedReason: the image was verified.
	VerifiedReason = "Verified"
	// AdoptedReason: Baton recorded the running image as revision 1.
	AdoptedReason = "Adopted"
	// ExternalChangeReason: the image changed without a Promotion.
	ExternalChangeReason = "ExternalChange"
	// SuspendedReason: spec.suspend is set.
	SuspendedReason = "Suspended"
	// DeployWindowReason: a Queued Promotion waits because a deny window
	// is open, or no allow window is; the message names the window and when
	// it ends.
	DeployWindowReason = "DeployWindow"
	// WindowNotFoundReason: spec.deployWindows names a DeployWindow that does
	// not exist, or its selector matches none; Promotions wait until it is
	// fixed.
	WindowNotFoundReason = "WindowNotFound"
	// AutoPromotePausedReason: spec.pauseOnFailure paused autoPromote and
	// spec.source deploys after a Promotion failed or was rolled back
	// (status.autoPromotePause); the AutoPromote condition, the Event and
	// every trigger Promotion that waits name that Promotion.
	AutoPromotePausedReason = "AutoPromotePaused"
	// AutoPromoteResumedReason: someone set spec.resume on the Promotion
	// that paused autoPromote; the Event names who, and the pause is gone.
	AutoPromoteResumedReason = "AutoPromoteResumed"
	// ResumeNotPausedReason: spec.resume was set on a Promotion that is not
	// the Environment's current pause (status.autoPromotePause names another
	// Promotion, or none); nothing changed, and the Event says so.
	ResumeNotPausedReason = "ResumeNotPaused"
	// WindowInvalidReason: a selected DeployWindow cannot be evaluated (it
	// was stored behind the webhook); Promotions wait until it is fixed.
	WindowInvalidReason = "WindowInvalid"
	// FrozenReason: a Queued Promotion waits for a Freeze or ClusterFreeze
	// to be lifted; the message names it, who froze and why.
	FrozenReason = "Frozen"
	// OverriddenReason: a Promotion started past a window or freeze with a
	// break-glass override; the Event names who and why.
	OverriddenReason = "Overridden"
	// ImageRejectedReason: the image was rolled back away from.
	ImageRejectedReason = "ImageRejected"

	// EnvironmentNotFoundReason: spec.environment names no Environment.
	EnvironmentNotFoundReason = "EnvironmentNotFound"
	// InvalidImageReason: the image reference cannot be parsed.
	InvalidImageReason = "InvalidImage"
	// UpstreamNotVerifiedReason: the upstream Environment has not verified
	// the image (yet); the Promotion waits for it.
	UpstreamNotVerifiedReason = "UpstreamNotVerified"
	// ImageManagedElsewhere: another field manager (Argo CD, Flux, Helm)
	// owns the workload's image field, so direct delivery would fight it.
	ImageManagedElsewhereReason = "ImageManagedElsewhere"
	// ImageNotFoundReason: the registry has no image under the tag the
	// Promotion resolved (pinDigest asked it for the digest).
	ImageNotFoundReason = "ImageNotFound"
	// RegistryUnauthorizedReason: the registry refused the credentials of
	// the workload's imagePullSecrets (and its ServiceAccount's), or asked
	// for some and there were none.
	RegistryUnauthorizedReason = "RegistryUnauthorized"
	// RegistryUnreachableReason: the registry did not answer, or answered
	// with a server error; the Promotion waits and asks again.
	RegistryUnreachableReason = "RegistryUnreachable"
	// RegistryRateLimitedReason: the registry asked Baton to slow down
	// (429); the Promotion waits and asks again.
	RegistryRateLimitedReason = "RegistryRateLimited"
	// DigestMismatchReason: after the rollout, the Pods run other bytes
	// than the digest the Promotion froze when it resolved (the tag was
	// pushed again since); the Promotion fails, and rolls back with
	// autoRollback.
	DigestMismatchReason = "DigestMismatch"
	// DigestsDisagreeReason: the ready Pods of the current revision run
	// more than one digest under one reference; the image is not verified.
	DigestsDisagreeReason = "DigestsDisagree"
	// KubeConfigNotFoundReason: spec.cluster.kubeConfig.secretRef names no
	// Secret in the Environment's namespace.
	KubeConfigNotFoundReason = "KubeConfigNotFound"
	// KubeConfigKeyNotFoundReason: the kubeconfig Secret has no key "value".
	KubeConfigKeyNotFoundReason = "KubeConfigKeyNotFound"
	// KubeConfigInvalidReason: the kubeconfig cannot be used: it does not
	// parse, has no current context, reads files from the manager's disk,
	// names a plain-http server, or turns TLS verification off.
	KubeConfigInvalidReason = "KubeConfigInvalid"
	// KubeConfigExecRefusedReason: the kubeconfig runs a program (exec or
	// auth-provider) and the manager does not allow it.
	KubeConfigExecRefusedReason = "KubeConfigExecRefused"
	// ClusterUnreachableReason: the remote cluster's API server did not
	// answer, or refused the kubeconfig's credentials; Baton retries.
	ClusterUnreachableReason = "ClusterUnreachable"
	// ClusterNotTrustedReason: the remote API server's certificate is not
	// signed by the kubeconfig's certificate-authority-data (or the system
	// roots when it has none).
	ClusterNotTrustedReason = "ClusterNotTrusted"
	// NoImageReason: an entry environment's Promotion names no image.
	NoImageReason = "NoImage"
	// RevisionNotFoundReason: a rollback names no usable revision.
	RevisionNotFoundReason = "RevisionNotFound"
	// WaitingForApprovalReason: approvals are missing.
	WaitingForApprovalReason = "WaitingForApproval"
	// ApprovedReason: enough approvals were given for the resolved image.
	ApprovedReason = "Approved"
	// QueuedReason: waiting for another Promotion to release the lease.
	QueuedReason = "Queued"
	// DeliveryFailedReason: changing the target failed.
	DeliveryFailedReason = "DeliveryFailed"
	// RolloutTimeoutReason: the rollout did not complete within
	// spec.rollout.timeout.
	RolloutTimeoutReason = "RolloutTimeout"
	// AlreadyAtImageReason: the Environment already runs the image.
	AlreadyAtImageReason = "AlreadyAtImage"
	// CanceledReason: the Promotion was canceled.
	CanceledReason = "Canceled"
	// RollbackFailedReason: a rollback failed; Baton never rolls back a
	// rollback, so a person must decide what runs next.
	RollbackFailedReason = "RollbackFailed"
	// AutoPromotedReason: autoPromote created a Promotion for an image the
	// upstream verified.
	AutoPromotedReason = "AutoPromoted"
	// UpToDateReason: the Environment already runs the upstream's newest
	// verified image; autoPromote has nothing to do.
	UpToDateReason = "UpToDate"
	// SupersededReason: a rollback preempted the Promotion.
	SupersededReason = "Superseded"
	// UnsupportedUpdateStrategyReason: the workload uses the OnDelete update
	// strategy, whose rollouts `kubectl rollout status` (and so Baton) cannot
	// judge.
	UnsupportedUpdateStrategyReason = "UnsupportedUpdateStrategy"
	// NotAdmittedReason: the Promotion's admission marker is missing or does
	// not verify, so Baton cannot trust who requested or approved it. It was
	// created or changed while the admission webhook was bypassed; delete it
	// and create it again.
	NotAdmittedReason = "NotAdmitted"
	// LeaseReleasedReason: the Promotion that held the Environment's lease no
	// longer exists (its finalizer was removed, or the garbage collector
	// deleted it); the Environment reconciler closed its revision as Failed
	// and released the lease.
	LeaseReleasedReason = "LeaseReleased"
	// EnvironmentReplacedReason: spec.environment names an Environment that
	// was deleted and created again since the Promotion resolved its image;
	// its approvals and checks were for the old one.
	EnvironmentReplacedReason = "EnvironmentReplaced"
	// ImageMismatchReason: status.image is not what spec asks for (status was
	// written by someone other than Baton); nothing is delivered.
	ImageMismatchReason = "ImageMismatch"
	// NotApprovedReason: the approvals no longer satisfy spec.approval when
	// the lease is held, right before delivery (the policy was raised).
	NotApprovedReason = "NotApproved"
	// RollbackNameTakenReason: the name recorded for an automatic rollback is
	// taken by a Promotion Baton did not create for it; Baton picks another.
	RollbackNameTakenReason = "RollbackNameTaken"
	// NotDeliveredReason: the workload runs an image Baton did not deliver
	// (drift); it is never verified.
	NotDeliveredReason = "NotDelivered"

	// ManifestInvalidReason: delivery.git.path, delivery.git.edit or an entry
	// of delivery.git.edits does not match the repository (a file or field is
	// missing, the YAML cannot be edited, two edits set one field); the
	// message names the field, such as delivery.git.edits[1].yaml.field.
	ManifestInvalidReason = "ManifestInvalid"
	// GitCredentialsInvalidReason: the Secret named by delivery.git.secretRef
	// is missing, lacks a key, or holds a key that cannot be parsed.
	GitCredentialsInvalidReason = "GitCredentialsInvalid"
	// AuthenticationFailedReason: the Git server refused the credentials.
	AuthenticationFailedReason = "AuthenticationFailed"
	// HostKeyUnknownReason: the SSH server's host key is not in the
	// Secret's known_hosts.
	HostKeyUnknownReason = "HostKeyUnknown"
	// RepositoryNotFoundReason: delivery.git.url or delivery.git.branch
	// names no repository or branch on the server.
	RepositoryNotFoundReason = "RepositoryNotFound"
	// PushRejectedReason: the Git server refused the push for a reason other
	// than a concurrent commit (a hook, branch protection, permissions).
	PushRejectedReason = "PushRejected"
	// PathEscapesReason: a file that delivery.git.path, delivery.git.edit or
	// an entry of delivery.git.edits names is reached through a symlink (or a symlinked directory) that
	// leaves delivery.git.path; the message names the link and its target.
	PathEscapesReason = "PathEscapes"
	// InsecureTransportReason: a Git URL that would carry credentials from a
	// Secret is plain http://; the message names the field.
	InsecureTransportReason = "InsecureTransport"
	// HostNotAllowedReason: a Git URL names a host outside the manager's
	// --allowed-git-hosts, or a check's prometheus.address one outside its
	// --allowed-prometheus-hosts, or an image's registry one outside its
	// --allowed-registry-hosts; the message names the field (or the image)
	// and the host. Baton made no connection.
	HostNotAllowedReason = "HostNotAllowed"
	// ForeignCommitReason: a commit on the branch carries this Promotion's
	// Baton-Promotion-UID trailer, but Baton did not make it (no valid
	// Baton-Signature, another author, or other files touched).
	ForeignCommitReason = "ForeignCommit"
	// PushBranchDivergedReason: delivery.git.pushBranch holds commits that
	// are not on delivery.git.branch; Baton builds only on the branch and
	// never force-pushes.
	PushBranchDivergedReason = "PushBranchDiverged"
	// AwaitingMergeReason: Baton pushed to delivery.git.pushBranch and waits
	// until its commit is merged into delivery.git.branch.
	AwaitingMergeReason = "AwaitingMerge"
	// DeliveryQueuedReason: the Promotion's commit is queued for the next
	// group commit into its branch, or being pushed; Baton looks again as
	// soon as the push lands.
	DeliveryQueuedReason = "DeliveryQueued"
)

// Source tracking (spec.source) conditions and reasons.
const (
	// SourceCondition: True while Baton follows spec.source.git.branch; False
	// with a reason when it cannot, or when the branch moved in a way Baton
	// does not deploy on its own (a force-push). The source controller owns it.
	SourceCondition = "Source"

	// TrackingReason: Baton reads the branch head and promotes each new one.
	TrackingReason = "Tracking"
	// CommitPromotedReason: a new head of the branch became a Promotion.
	CommitPromotedReason = "CommitPromoted"
	// InvalidImageTemplateReason: spec.source.image does not parse as a Go
	// text/template, uses a field or action it may not, or renders something
	// that is not an image reference.
	InvalidImageTemplateReason = "InvalidImageTemplate"
	// BranchNotFoundReason: spec.source.git.branch does not exist in the
	// repository.
	BranchNotFoundReason = "BranchNotFound"
	// ForcePushedReason: the branch head moved to a commit that does not
	// descend from the last head Baton saw (moved back, or history
	// rewritten). Baton does not deploy it; the message names both commits.
	ForcePushedReason = "ForcePushed"
)

// Verification check (spec.verification.checks, spec.rollout.watch) reasons.
const (
	// CheckFailedReason: a check breached its threshold (failureLimit
	// failing results in a row); the message names the check, the query,
	// the value and the threshold.
	CheckFailedReason = "CheckFailed"
	// CheckInconclusiveReason: a query returned no sample, or more than one;
	// never a pass.
	CheckInconclusiveReason = "CheckInconclusive"
	// CheckPendingReason: a check has not been evaluated for the image yet.
	CheckPendingReason = "CheckPending"
	// PrometheusUnreachableReason: Prometheus could not be reached, or did
	// not answer within the check's timeout.
	PrometheusUnreachableReason = "PrometheusUnreachable"
	// UnauthorizedReason: Prometheus refused the credentials (401 or 403).
	UnauthorizedReason = "Unauthorized"
	// QueryFailedReason: Prometheus rejected the query (it does not parse,
	// or fails to evaluate); the message carries Prometheus' error.
	QueryFailedReason = "QueryFailed"
	// InvalidCheckReason: a check's spec cannot be used (a query template
	// that does not parse or uses an action other than field access, an
	// address that is not a URL, a missing or unsuitable Secret); the
	// message names the field.
	InvalidCheckReason = "InvalidCheck"
	// JobCreateFailedReason: the Job of a job check could not be created
	// (the API server did not answer, or refused for another reason than
	// the Job's content); Baton tries again.
	JobCreateFailedReason = "JobCreateFailed"
	// WatchingReason: a Promotion's rollout completed and spec.rollout.watch
	// is running.
	WatchingReason = "Watching"
)

// Commit status (spec.source.commitStatus) condition and reasons, on the
// entry Environment.
const (
	// CommitStatusReportedCondition: whether Baton's last report of a state
	// on a source commit reached the forge. It never holds up a Promotion.
	CommitStatusReportedCondition = "CommitStatusReported"
	// CommitStatusSentReason: the forge accepted the last commit status.
	CommitStatusSentReason = "CommitStatusSent"
	// CommitStatusRateLimitedReason: the forge refused the call for its rate
	// limit (429, or 403 with X-RateLimit-Remaining: 0); the message says
	// when it may be tried again.
	CommitStatusRateLimitedReason = "CommitStatusRateLimited"
	// CommitStatusUnauthorizedReason: the forge refused the token (401 or
	// 403); the message names the Secret, never the token.
	CommitStatusUnauthorizedReason = "CommitStatusUnauthorized"
	// CommitStatusFailedReason: the forge was unreachable or answered an
	// error after every retry (a 404 means the repository or commit is not
	// where spec.source.commitStatus says).
	CommitStatusFailedReason = "CommitStatusFailed"
	// CommitStatusInvalidReason: spec.source.commitStatus cannot be used (a
	// missing or unsuitable Secret, an address the manager does not allow);
	// the message names the field.
	CommitStatusInvalidReason = "CommitStatusInvalid"
)
