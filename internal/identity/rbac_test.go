package identity_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/baton-dev/baton/internal/testenv"
)

// flatten turns RBAC rules into one comparable string per verb.
func flatten(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					names := strings.Join(r.ResourceNames, "|")
					out = append(out, g+"/"+res+":"+v+"@"+names)
				}
			}
		}
	}
	return out
}

// TestManagerRoleIsLeastPrivilege pins the manager's generated RBAC
// (config/rbac/role.yaml, from the markers in controllers/). Widening it
// must be a deliberate change to this list.
func TestManagerRoleIsLeastPrivilege(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || string(bytes.TrimSpace(doc)) == "---" {
			continue
		}
		var role struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Rules []rbacv1.PolicyRule `json:"rules"`
		}
		if err := yaml.Unmarshal(doc, &role); err != nil {
			t.Fatal(err)
		}
		key := role.Kind + " " + role.Metadata.Namespace + "/" + role.Metadata.Name
		got[key] = append(got[key], flatten(role.Rules)...)
	}

	want := map[string][]string{
		"ClusterRole /manager-role": {
			// Credentials for Git delivery, read one by one with the
			// uncached reader: no list, no watch.
			"/secrets:get@",
			// pinDigest's registry lookup: the workload's ServiceAccount,
			// for its imagePullSecrets (read uncached, like the Secrets).
			"/serviceaccounts:get@",
			"/events:create@", "/events:patch@",
			"events.k8s.io/events:create@", "events.k8s.io/events:patch@",
			// The webhook certificate rotation (internal/certs): its cache
			// lists and watches the configurations; it writes only Baton's
			// two, by name.
			"admissionregistration.k8s.io/mutatingwebhookconfigurations:update@mutating-webhook-configuration",
			"admissionregistration.k8s.io/mutatingwebhookconfigurations:list@", "admissionregistration.k8s.io/mutatingwebhookconfigurations:watch@",
			"admissionregistration.k8s.io/validatingwebhookconfigurations:list@", "admissionregistration.k8s.io/validatingwebhookconfigurations:watch@",
			"admissionregistration.k8s.io/validatingwebhookconfigurations:update@validating-webhook-configuration",
			// Job checks: create each check's Job, watch it through the
			// cache, delete all but the newest few; list a failed Job's
			// Pods for their termination message.
			"batch/jobs:create@", "batch/jobs:delete@", "batch/jobs:get@", "batch/jobs:list@", "batch/jobs:watch@",
			// The digests the kubelets report, from a cache of Pods.
			"/pods:list@", "/pods:watch@",
			"apps/daemonsets:get@", "apps/daemonsets:list@", "apps/daemonsets:patch@", "apps/daemonsets:watch@",
			"apps/deployments:get@", "apps/deployments:list@", "apps/deployments:patch@", "apps/deployments:watch@",
			"apps/statefulsets:get@", "apps/statefulsets:list@", "apps/statefulsets:patch@", "apps/statefulsets:watch@",
			// The webhook's authorization checks.
			"authorization.k8s.io/subjectaccessreviews:create@",
			"promotion.baton.dev/environments:get@", "promotion.baton.dev/environments:list@", "promotion.baton.dev/environments:patch@",
			"promotion.baton.dev/environments:watch@",
			// Notifications: the policies of a namespace, read uncached
			// per phase change; never written.
			"promotion.baton.dev/notificationpolicies:get@", "promotion.baton.dev/notificationpolicies:list@",
			// Automatic rollbacks and autoPromote go through the admission
			// webhook like anyone's Promotions.
			"promotion.baton.dev/environments:promote@", "promotion.baton.dev/environments:rollback@",
			"promotion.baton.dev/promotions:create@",
			// Retention: the oldest finished Promotions beyond spec.promotionHistoryLimit.
			"promotion.baton.dev/promotions:delete@",
			"promotion.baton.dev/promotions:get@", "promotion.baton.dev/promotions:list@", "promotion.baton.dev/promotions:patch@",
			"promotion.baton.dev/promotions:watch@",
			// Windows and freezes hold Queued Promotions: read only.
			"promotion.baton.dev/deploywindows:get@", "promotion.baton.dev/deploywindows:list@", "promotion.baton.dev/deploywindows:watch@",
			"promotion.baton.dev/freezes:get@", "promotion.baton.dev/freezes:list@", "promotion.baton.dev/freezes:watch@",
			"promotion.baton.dev/clusterfreezes:get@", "promotion.baton.dev/clusterfreezes:list@", "promotion.baton.dev/clusterfreezes:watch@",
			"promotion.baton.dev/environments/finalizers:update@", "promotion.baton.dev/promotions/finalizers:update@",
			"promotion.baton.dev/environments/status:patch@", "promotion.baton.dev/promotions/status:patch@",
			// delivery.git.requestReconcile: annotate Flux's objects after
			// a push; no get, list or watch.
			"kustomize.toolkit.fluxcd.io/kustomizations:patch@", "source.toolkit.fluxcd.io/gitrepositories:patch@",
		},
		// Only in the manager's own namespace: create the admission key;
		// the certificate rotation's cache lists and watches Secrets there,
		// and it updates only the certificate Secret.
		"Role system/manager-role": {"/secrets:create@", "/secrets:list@", "/secrets:watch@", "/secrets:update@webhook-server-cert"},
	}
	// The order of rules in the generated file is controller-gen's business;
	// the set is what is pinned.
	for _, m := range []map[string][]string{got, want} {
		for k := range m {
			slices.Sort(m[k])
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config/rbac/role.yaml changed.\n got: %v\nwant: %v\nIf the widening is deliberate, update this test.", got, want)
	}
	for key, rules := range got {
		for _, r := range rules {
			// The one delete: retention removes the oldest finished
			// Promotions, which only the manager can label finished.
			// And the Jobs of job checks beyond the newest few.
			deletes := strings.Contains(r, ":delete@") && r != "promotion.baton.dev/promotions:delete@" && r != "batch/jobs:delete@"
			if strings.Contains(r, "*") || deletes || strings.Contains(r, ":escalate@") ||
				strings.Contains(r, ":bind@") || strings.Contains(r, ":impersonate@") || strings.HasPrefix(r, "rbac.authorization.k8s.io/") {
				t.Errorf("%s grants %s", key, r)
			}
			// Cluster-wide, Secrets are only read one by one (Git
			// credentials); and nothing writes a webhook configuration it
			// does not name.
			if strings.HasPrefix(key, "ClusterRole ") && strings.HasPrefix(r, "/secrets:") && r != "/secrets:get@" {
				t.Errorf("%s grants %s cluster-wide", key, r)
			}
			if strings.HasPrefix(r, "admissionregistration.k8s.io/") && strings.Contains(r, ":update@") && strings.HasSuffix(r, "@") {
				t.Errorf("%s grants %s on every webhook configuration", key, r)
			}
		}
	}
}

// TestUserRolesNeverWriteStatus checks the roles people are granted.
func TestUserRolesNeverWriteStatus(t *testing.T) {
	for _, file := range []string{"promoter_role.yaml", "approver_role.yaml", "rollbacker_role.yaml", "viewer_role.yaml"} {
		for _, r := range flatten(readRole(t, file).Rules) {
			if strings.Contains(r, "/status:") || strings.Contains(r, "*") || strings.Contains(r, "environments:update") ||
				strings.Contains(r, "environments:patch") || strings.Contains(r, ":delete") || strings.Contains(r, "promotions:update") {
				t.Errorf("%s grants %s", file, r)
			}
		}
	}
}

// TestNotifierRoleIsOnlyNotificationPolicies pins baton-notifier: it manages
// NotificationPolicies and reads Environments, and grants no Secret (where
// the receiver's URL and key are), no status and no custom verb.
func TestNotifierRoleIsOnlyNotificationPolicies(t *testing.T) {
	got := flatten(readRole(t, "notifier_role.yaml").Rules)
	want := []string{
		"promotion.baton.dev/environments:get@", "promotion.baton.dev/environments:list@", "promotion.baton.dev/environments:watch@",
	}
	for _, v := range []string{"get", "list", "watch", "create", "update", "patch", "delete"} {
		want = append(want, "promotion.baton.dev/notificationpolicies:"+v+"@")
	}
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notifier_role.yaml grants\n %v\nwant\n %v", got, want)
	}
}
