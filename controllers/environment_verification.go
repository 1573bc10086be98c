package controllers

import (
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/health"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/internal/workload"
)

// evaluateChecks brings status.verification up to date for the image the
// workload runs: each check that is due (once per interval, whatever the
// number of Promotions) is evaluated once, and the summary goes to
// health.Decide. Nothing is evaluated while the rollout is not complete: the
// checks judge an image that runs. It returns when the next check is due.
func (r *EnvironmentReconciler) evaluateChecks(ctx context.Context, env *batonv1alpha1.Environment, w workload.Workload, rollout workload.Rollout) (*verification.Summary, time.Duration) {
	checks := env.Spec.Verification.Checks
	// The history already has the revision a Promotion delivers (the engine
	// writes it first), so a re-ship starts its checks over at once.
	env.Status.Verification = verification.Reset(env.Status.Verification, checks, w.Image, health.RevisionOf(env.Status.History, w.Image))
	if len(checks) == 0 || !rollout.Complete() {
		return nil, 0
	}
	status := env.Status.Verification
	var next time.Duration
	for i := range checks {
		c := &checks[i]
		cs := verification.Find(status, c.Name)
		if c.Job != nil {
			// A Job is watched through the cache, not polled: any change
			// to it reconciles the Environment again.
			next = sooner(next, r.evaluateJob(ctx, env, i, cs, w.Image))
			continue
		}
		due, wait := verification.Due(cs, c, r.Clock.Now())
		if !due {
			next = sooner(next, wait)
			continue
		}
		verification.Fold(cs, c, r.evaluate(ctx, env, i, w))
		next = sooner(next, verification.Interval(c))
	}
	summary := verification.Summarize(status, checks)
	return &summary, next
}

// evaluate runs check i once, bounded by its timeout.
func (r *EnvironmentReconciler) evaluate(ctx context.Context, env *batonv1alpha1.Environment, i int, w workload.Workload) verification.Sample {
	c := &env.Spec.Verification.Checks[i]
	field := fmt.Sprintf("spec.verification.checks[%d].prometheus", i)
	p := c.Prometheus
	if p == nil {
		return verification.Errored(c.Name, batonv1alpha1.InvalidCheckReason, fmt.Sprintf("spec.verification.checks[%d] has neither prometheus nor job", i), r.Clock.Now())
	}
	invalid := func(err error) verification.Sample {
		return verification.Errored(c.Name, batonv1alpha1.InvalidCheckReason, err.Error(), r.Clock.Now())
	}
	query, err := verification.ParseQuery(field+".query", p.Query)
	if err != nil {
		return invalid(err)
	}
	threshold, err := verification.ParseThreshold(field, p)
	if err != nil {
		return invalid(err)
	}
	text, err := query.Render(queryData(env, w))
	if err != nil {
		return invalid(err)
	}
	creds, err := r.checkCredentials(ctx, env, field, p)
	if err != nil {
		return invalid(err)
	}
	qctx, cancel := context.WithTimeout(ctx, verification.Timeout(c))
	defer cancel()
	at := r.Clock.Now()
	value, err := r.querier().Query(qctx, p.Address, creds, text)
	if qe, ok := err.(*verification.QueryError); ok {
		return verification.Errored(c.Name, qe.Reason, field+": "+qe.Message, at)
	}
	if err != nil {
		return verification.Errored(c.Name, batonv1alpha1.PrometheusUnreachableReason, field+": "+err.Error(), at)
	}
	return verification.Judge(c.Name, text, value, threshold, at)
}

func (r *EnvironmentReconciler) querier() verification.Querier {
	if r.Querier != nil {
		return r.Querier
	}
	return verification.PrometheusQuerier{}
}

// checkCredentials reads prometheus.secretRef, uncached, from the
// Environment's namespace. Like Git credentials, only a Secret meant for
// it may be named (type kubernetes.io/basic-auth, or labelled
// promotion.baton.dev/credentials), and only over https: naming a Secret
// must never send it somewhere in the clear.
func (r *EnvironmentReconciler) checkCredentials(ctx context.Context, env *batonv1alpha1.Environment, field string, p *batonv1alpha1.PrometheusCheck) (verification.Credentials, error) {
	if p.SecretRef == nil {
		return verification.Credentials{}, nil
	}
	if !strings.HasPrefix(p.Address, "https://") {
		return verification.Credentials{}, fmt.Errorf("%s.address %q is not https: Baton sends the credentials of %s.secretRef only over TLS", field, p.Address, field)
	}
	s := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: env.Namespace, Name: p.SecretRef.Name}, s)
	if apierrors.IsNotFound(err) {
		return verification.Credentials{}, fmt.Errorf("%s.secretRef: Secret %s/%s does not exist", field, env.Namespace, p.SecretRef.Name)
	}
	if err != nil {
		return verification.Credentials{}, fmt.Errorf("%s.secretRef: read Secret %s/%s: %w", field, env.Namespace, p.SecretRef.Name, err)
	}
	if s.Type != corev1.SecretTypeBasicAuth && s.Labels[batonv1alpha1.CredentialsLabel] != "true" {
		return verification.Credentials{}, fmt.Errorf("%s.secretRef: Secret %s/%s (type %s) is neither of type %s nor labelled %s=true",
			field, env.Namespace, s.Name, s.Type, corev1.SecretTypeBasicAuth, batonv1alpha1.CredentialsLabel)
	}
	creds := verification.Credentials{Token: string(s.Data["token"]), Username: string(s.Data["username"]), Password: string(s.Data["password"]), CA: s.Data["ca.crt"]}
	if creds.Token == "" && (creds.Username == "" || creds.Password == "") && len(creds.CA) == 0 {
		return verification.Credentials{}, fmt.Errorf("%s.secretRef: Secret %s/%s has none of the key token, the keys username and password, or the key ca.crt", field, env.Namespace, s.Name)
	}
	if len(creds.CA) > 0 && !x509.NewCertPool().AppendCertsFromPEM(creds.CA) {
		return verification.Credentials{}, fmt.Errorf("%s.secretRef: the key ca.crt of Secret %s/%s holds no PEM certificate", field, env.Namespace, s.Name)
	}
	return creds, nil
}

// queryData is what a query template sees of env and its workload.
func queryData(env *batonv1alpha1.Environment, w workload.Workload) verification.QueryData {
	d := verification.QueryData{
		Namespace: env.Namespace, Environment: env.Name,
		Workload: w.Object.GetName(), WorkloadNamespace: w.Object.GetNamespace(),
		Container: w.Ref.ContainerNames()[0], Image: w.Image,
	}
	if tag, err := name.NewTag(strings.SplitN(w.Image, "@", 2)[0]); err == nil {
		d.Tag = tag.TagStr()
	}
	if env.Status.Current != nil && env.Status.Current.Revision > 0 {
		d.Revision = strconv.FormatInt(env.Status.Current.Revision, 10)
	}
	return d
}

// sooner is the earlier of two waits, where zero means none.
func sooner(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}
