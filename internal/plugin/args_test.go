package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
)

// runOffline runs the command with a kubeconfig that does not exist, so
// that any command that gets as far as connecting fails with exit 1: a
// usage error must be found before that.
func runOffline(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	o := NewOptions(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	code = o.Execute(context.Background(), append(args, "--kubeconfig", t.TempDir()+"/missing"))
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "kubectl promote expects ENV, but got 0 argument(s)"},
		{[]string{"production", "staging"}, "expects ENV, but got 2"},
		{[]string{"production", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"production", "-o", "wide"}, `--output "wide" is not supported`},
		{[]string{"production", "--wait", "-o", "yaml"}, "cannot be combined with -o yaml"},
		{[]string{"production", "--wait", "--timeout", "-1s"}, "--timeout must not be negative"},
		{[]string{"production", "--image", "web 1.2"}, "contains whitespace"},
		{[]string{"approve"}, "kubectl promote approve expects PROMOTION|ENV, but got 0"},
		{[]string{"approve", "a", "b"}, "expects PROMOTION|ENV, but got 2"},
		{[]string{"cancel"}, "kubectl promote cancel expects PROMOTION"},
		{[]string{"status"}, "kubectl promote status expects ENV|PROMOTION"},
		{[]string{"history", "production", "--revision", "-2"}, "--revision must be a revision number"},
		{[]string{"history", "production", "--revision", "two"}, `invalid argument "two" for "--revision"`},
		{[]string{"undo", "production", "--to-revision", "-1"}, "--to-revision must be 0"},
		{[]string{"undo"}, "kubectl promote undo expects ENV"},
		{[]string{"status", "production", "-o", "name"}, `--output "name" is not supported`},
		{[]string{"freeze", "production"}, "--reason is required"},
		{[]string{"freeze", "production", "--reason", "  "}, "--reason is required"},
		{[]string{"freeze", "--reason", "x"}, "kubectl promote freeze expects ENV, or --all, or --cluster"},
		{[]string{"freeze", "production", "--all", "--reason", "x"}, "expects ENV, or --all, or --cluster"},
		{[]string{"freeze", "--all", "--cluster", "--reason", "x"}, "--all and --cluster are exclusive"},
		{[]string{"unfreeze"}, "kubectl promote unfreeze expects ENV, or --all, or --cluster"},
		{[]string{"unfreeze", "a", "b"}, "expects ENV, or --all, or --cluster"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runOffline(t, tt.args...)
			if code != ExitUsage {
				t.Errorf("exit code %d, want %d (usage); stderr: %s", code, ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestValidArgsReachTheCluster(t *testing.T) {
	// Well-formed command lines pass parsing and fail only when connecting.
	for _, args := range [][]string{
		{"production", "--image", "registry.example.com/web:1.2", "--reason", "ship it", "--wait", "--timeout", "5m"},
		{"approve", "production"},
		{"history", "production", "--revision", "3", "-o", "json"},
		{"undo", "production", "--to-revision", "2", "--wait"},
		{"status", "production", "-o", "yaml"},
		{"cancel", "production-20261126-101500-k3x9", "-n", "shop"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := runOffline(t, args...)
			if code != ExitFailed || !strings.Contains(stderr, "--kubeconfig") {
				t.Errorf("exit code %d, stderr %q: want 1 and a kubeconfig error that says to pass --kubeconfig", code, stderr)
			}
		})
	}
}

func TestPromotionName(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 15, 0, 0, time.FixedZone("CET", 3600))
	if got, want := promotionName("production", "promotion", now, "k3x9"), "production-20261126-091500-k3x9"; got != want {
		t.Errorf("promotionName = %q, want %q (UTC)", got, want)
	}
	if got, want := promotionName("production", "rollback", now, "k3x9"), "production-rollback-20261126-091500-k3x9"; got != want {
		t.Errorf("rollback name = %q, want %q", got, want)
	}
	long := strings.Repeat("a", 230) + "-" + strings.Repeat("b", 22)
	for _, kind := range []string{"promotion", "rollback"} {
		name := promotionName(long, kind, now, "k3x9")
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("%s name for a 253-character Environment is invalid: %v", kind, errs)
		}
		if !strings.HasSuffix(name, "-20261126-091500-k3x9") {
			t.Errorf("%s name %q lost its timestamp", kind, name)
		}
	}
}

func TestExitCode(t *testing.T) {
	gr := schema.GroupResource{Group: "promotion.baton.dev", Resource: "promotions"}
	webhook := apierrors.NewForbidden(gr, "p", errors.New(`admission webhook "mpromotion.promotion.baton.dev" denied the request: user "carol" may not approve a Promotion into Environment "production": that needs the "approve" verb on environments/production`))
	invalidDenial := apierrors.NewInvalid(schema.GroupKind{Group: gr.Group, Kind: "Promotion"}, "p", nil)
	invalidDenial.ErrStatus.Message = `admission webhook "vpromotion.promotion.baton.dev" denied the request: marker`
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"usage", usageErrorf("bad"), ExitUsage},
		{"failed", failedErrorf("Promotion failed"), ExitFailed},
		{"rbac forbidden", apierrors.NewForbidden(gr, "p", errors.New("no")), ExitDenied},
		{"webhook denial", webhook, ExitDenied},
		{"wrapped webhook denial", fmt.Errorf("approve: %w", webhook), ExitDenied},
		{"webhook denial as Invalid", invalidDenial, ExitDenied},
		{"schema Invalid", apierrors.NewInvalid(schema.GroupKind{Group: gr.Group, Kind: "Promotion"}, "p", nil), ExitFailed},
		{"not found", apierrors.NewNotFound(gr, "p"), ExitFailed},
		{"wrapped usage", fmt.Errorf("x: %w", usageErrorf("bad")), ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestDeniedHints(t *testing.T) {
	gr := schema.GroupResource{Group: "promotion.baton.dev", Resource: "promotions"}
	hint := "Approving needs the approve verb"
	rbac := denied(apierrors.NewForbidden(gr, "p", errors.New(`User "dave" cannot patch resource "promotions"`)), hint)
	if exitCode(rbac) != ExitDenied || !strings.Contains(rbac.Error(), hint) {
		t.Errorf("RBAC denial %q: want exit 3 and the hint", rbac)
	}
	webhook := denied(apierrors.NewForbidden(gr, "p", errors.New(`admission webhook "m" denied the request: that needs the "approve" verb on environments/production`)), hint)
	if exitCode(webhook) != ExitDenied || !strings.Contains(webhook.Error(), `"approve" verb`) || !strings.Contains(webhook.Error(), hint) {
		t.Errorf("webhook permission denial %q: want exit 3, the verb and the hint", webhook)
	}
	notYet := denied(apierrors.NewForbidden(gr, "p", errors.New(`admission webhook "m" denied the request: spec.approvals: cannot approve yet: retry when`)), hint)
	if exitCode(notYet) != ExitDenied || strings.Contains(notYet.Error(), hint) {
		t.Errorf("webhook denial that is not about permissions %q: want exit 3 without the permission hint", notYet)
	}
	other := errors.New("connection refused")
	if got := denied(other, hint); got != other {
		t.Errorf("denied changed an error that is not a denial: %v", got)
	}
}

func TestReplicaProgress(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)},
		Status: appsv1.DeploymentStatus{UpdatedReplicas: 2, ReadyReplicas: 1}}
	if got, want := replicaProgress(d), "2/3 updated, 1/3 ready"; got != want {
		t.Errorf("Deployment: %q, want %q", got, want)
	}
	s := &appsv1.StatefulSet{Status: appsv1.StatefulSetStatus{UpdatedReplicas: 1, ReadyReplicas: 1}}
	if got, want := replicaProgress(s), "1/1 updated, 1/1 ready"; got != want {
		t.Errorf("StatefulSet with default replicas: %q, want %q", got, want)
	}
	ds := &appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberReady: 3}}
	if got, want := replicaProgress(ds), "4/4 updated, 3/4 ready"; got != want {
		t.Errorf("DaemonSet: %q, want %q", got, want)
	}
}
