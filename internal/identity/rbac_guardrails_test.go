package identity_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/testenv"
)

// TestOnlyBreakglassOverrides: the override verb is in baton-breakglass and
// in no other shipped role, and freeze only in baton-freezer; neither of
// those grants promote, rollback or approve on its own.
func TestOnlyBreakglassOverrides(t *testing.T) {
	holders := map[string]string{identity.VerbOverride: "breakglass_role.yaml", identity.VerbFreeze: "freezer_role.yaml"}
	for _, file := range testenv.UserRoleFiles {
		for _, r := range flatten(readRole(t, file).Rules) {
			for verb, holder := range holders {
				if strings.Contains(r, "environments:"+verb+"@") && file != holder {
					t.Errorf("%s grants %s; only %s may", file, r, holder)
				}
			}
			if (file == "breakglass_role.yaml" || file == "freezer_role.yaml") && strings.Contains(r, "status:") {
				t.Errorf("%s grants %s", file, r)
			}
			for _, v := range []string{identity.VerbPromote, identity.VerbRollback, identity.VerbApprove} {
				if (file == "breakglass_role.yaml" || file == "freezer_role.yaml") && strings.Contains(r, "environments:"+v+"@") {
					t.Errorf("%s grants %s", file, r)
				}
			}
		}
	}
}

// readRole reads a shipped ClusterRole from config/rbac.
func readRole(t *testing.T, file string) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return role
}

// TestResumeHolders: the verb resume (spec.resume lifts a pause after a
// failure) is in baton-approver and baton-freezer, and in no other shipped
// role; a promoter cannot resume the automation that paused on their
// failed Promotion.
func TestResumeHolders(t *testing.T) {
	holders := map[string]bool{"approver_role.yaml": true, "freezer_role.yaml": true}
	for _, file := range testenv.UserRoleFiles {
		grants := false
		for _, r := range flatten(readRole(t, file).Rules) {
			grants = grants || strings.Contains(r, "environments:"+identity.VerbResume+"@")
		}
		if grants != holders[file] {
			t.Errorf("%s grants resume: %v; want %v", file, grants, holders[file])
		}
	}
}
