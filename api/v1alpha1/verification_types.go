package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Verification says when an image counts as verified here.
type Verification struct {
	// SoakTime is how long a rollout must stay complete and healthy, without a
	// break, before its image is verified. Empty means 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	SoakTime *metav1.Duration `json:"soakTime,omitempty"`

	// Checks must all pass, for the whole soak time, before an image is
	// verified, and keep being evaluated while it runs here: a breach takes
	// its promotability away until it has passed for the soak time again.
	// Empty means the rollout's health alone decides (docs/verification.md).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	Checks []VerificationCheck `json:"checks,omitempty"`
}

// VerificationCheck is one check of the image an Environment runs.
// +kubebuilder:validation:XValidation:rule="has(self.prometheus) != has(self.job)",message="a check needs exactly one of prometheus or job"
type VerificationCheck struct {
	// Name identifies the check in status.verification and in messages.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Interval is how often the check is evaluated, once per Environment
	// whatever the number of Promotions. Empty means 30s. A job check
	// ignores it: its Job is watched, not polled.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="interval must be at least 1s"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// FailureLimit is how many failing results in a row count as a breach.
	// Empty means 1: the first failing result is a breach. A job check
	// ignores it: a failed Job is a breach at once (its retries are
	// job.backoffLimit).
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	FailureLimit int32 `json:"failureLimit,omitempty"`

	// Timeout bounds one evaluation (one query). Empty means 10s. A job
	// check is bounded by job.activeDeadlineSeconds instead.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms') && duration(self) <= duration('5m')",message="timeout must be between 100ms and 5m"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Prometheus evaluates a PromQL query and compares its result with a
	// threshold.
	// +optional
	Prometheus *PrometheusCheck `json:"prometheus,omitempty"`

	// Job runs a smoke test as a Kubernetes Job in the Environment's
	// namespace, once per image and revision, when the rollout is complete:
	// the check passes when the Job succeeds, and a failed Job is a breach.
	// Every container gets BATON_IMAGE, BATON_REVISION, BATON_ENVIRONMENT
	// and BATON_NAMESPACE. Whoever adds or changes it must be allowed to
	// create Jobs in the namespace (the admission webhook asks the API
	// server).
	// +optional
	Job *JobTemplate `json:"job,omitempty"`
}

// PrometheusCheck is a PromQL query whose one sample must stay below or
// above a threshold. A query that returns no sample is inconclusive, never a
// pass.
// +kubebuilder:validation:XValidation:rule="has(self.below) != has(self.above)",message="exactly one of below or above"
type PrometheusCheck struct {
	// Address is the base URL of the Prometheus HTTP API, such as
	// http://prometheus.monitoring:9090. With secretRef it must be https.
	// The manager's --allowed-prometheus-hosts, when set, lists the hosts
	// it may name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	Address string `json:"address"`

	// Query is PromQL, written as a Go text/template that may only name
	// fields: {{.Namespace}}, {{.Environment}}, {{.Workload}},
	// {{.WorkloadNamespace}}, {{.Container}}, {{.Image}}, {{.Tag}} and
	// {{.Revision}}. It must return one sample (an instant vector of one
	// element, or a scalar).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query"`

	// Below passes when the value is strictly less than this number.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`
	Below *string `json:"below,omitempty"`

	// Above passes when the value is strictly greater than this number.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`
	Above *string `json:"above,omitempty"`

	// SecretRef names a Secret in the Environment's namespace with the
	// credentials for Prometheus: a key "token" (sent as a bearer token), or
	// keys "username" and "password" (basic auth), and optionally "ca.crt",
	// a PEM bundle trusted instead of the system's roots. The Secret must be
	// of type kubernetes.io/basic-auth or labelled
	// promotion.baton.dev/credentials: "true". Empty sends no credentials.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// RolloutPolicy says how Baton watches a rollout.
type RolloutPolicy struct {
	// Timeout is how long a rollout may take before the Promotion fails.
	// Empty means 10m.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// AutoRollback rolls back to the previous successful revision when a
	// rollout fails.
	// +optional
	AutoRollback bool `json:"autoRollback,omitempty"`

	// Watch keeps a Promotion in phase Verifying for this long after its
	// rollout completed, while spec.verification.checks are evaluated: a
	// breach fails it with reason CheckFailed (and rolls back with
	// autoRollback). An unreachable Prometheus never fails it. Empty or 0
	// means no watch: the Promotion succeeds when the rollout completes.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Watch *metav1.Duration `json:"watch,omitempty"`
}

// VerifiedImage is an image that ran complete and healthy here for the soak
// time.
type VerifiedImage struct {
	// Image reference.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Digest of the image, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Digest string `json:"digest,omitempty"`

	// VerifiedAt is when the soak time was reached.
	// +required
	VerifiedAt metav1.Time `json:"verifiedAt"`
}

// RejectedImage is an image this environment was rolled back away from.
// autoPromote never ships it again.
type RejectedImage struct {
	// Image reference.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Digest of the image, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Digest string `json:"digest,omitempty"`

	// RejectedAt is when the rollback away from it started.
	// +required
	RejectedAt metav1.Time `json:"rejectedAt"`

	// Promotion is the rollback Promotion that rejected it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Promotion string `json:"promotion,omitempty"`
}

// CheckVerdict is the result of one evaluation of a check.
// +kubebuilder:validation:Enum=Pass;Fail;Inconclusive;Error
type CheckVerdict string

// The verdicts of a check.
const (
	// CheckPass: the value met the threshold.
	CheckPass CheckVerdict = "Pass"
	// CheckFail: the value missed the threshold.
	CheckFail CheckVerdict = "Fail"
	// CheckInconclusive: the query returned no sample (or more than one).
	CheckInconclusive CheckVerdict = "Inconclusive"
	// CheckError: the check could not be evaluated (Prometheus unreachable,
	// refused the credentials, or rejected the query).
	CheckError CheckVerdict = "Error"
)

// VerificationStatus is what the checks found for the image the
// Environment runs.
type VerificationStatus struct {
	// Image is the image the checks below judged.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// Revision is the revision of that image the checks below judged (the
	// newest history entry for it): a re-ship of the same image is a new
	// release, and its checks start over.
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// HealthySince is when the current healthy streak started: the rollout
	// complete and every check passing. Empty while there is none.
	// +optional
	HealthySince *metav1.Time `json:"healthySince,omitempty"`

	// Checks holds each check's last result.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	Checks []CheckStatus `json:"checks,omitempty"`
}

// CheckStatus is a check's last result.
type CheckStatus struct {
	// Name of the check.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Verdict of the last evaluation.
	// +optional
	Verdict CheckVerdict `json:"verdict,omitempty"`

	// Reason says why, for an Error or Inconclusive verdict: a condition
	// reason such as PrometheusUnreachable or QueryFailed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// Value is the sample the query returned, as text.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Value string `json:"value,omitempty"`

	// LastEvaluated is when the check was last evaluated.
	// +optional
	LastEvaluated *metav1.Time `json:"lastEvaluated,omitempty"`

	// ConsecutiveFailures counts Fail verdicts in a row.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// Breached is true once ConsecutiveFailures reached failureLimit, until
	// the check passes again.
	// +optional
	Breached bool `json:"breached,omitempty"`

	// Message names the query, the value, the threshold and the time; for
	// a job check, the Job, its failure reason and the tail of its Pod's
	// termination message.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// Job is the name of the Job a job check last ran.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Job string `json:"job,omitempty"`

	// Revision is the revision the Job ran for (status.current.revision);
	// a Promotion in phase Verifying only reads the Job of its own revision.
	// +optional
	Revision int64 `json:"revision,omitempty"`
}
