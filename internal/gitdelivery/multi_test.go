package gitdelivery

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/outcome"
)

// deploymentYAML is a Deployment whose container name runs
// registry.example/web:<tag>.
func deploymentYAML(name, tag string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\nspec:\n  template:\n    spec:\n      containers:\n" +
		"      - name: " + name + "\n        image: registry.example/web:" + tag + " # the app's image\n"
}

// processFixture is a config repository where production runs two process
// types of one app, web and worker, each in its own Deployment file, and
// staging's worker.yaml is a file production's path must never reach.
func processFixture(t *testing.T) *remote {
	t.Helper()
	files := map[string]string{
		"production/kustomization.yaml": "resources:\n  - web.yaml\n  - worker.yaml\nimages:\n  - name: registry.example/web\n    newTag: v1\n",
		"production/web.yaml":           deploymentYAML("web", "v1"),
		"production/worker.yaml":        deploymentYAML("worker", "v1"),
		"staging/worker.yaml":           deploymentYAML("worker", "v1"),
		"README.md":                     "config\n",
	}
	dir := t.TempDir()
	for name, content := range files {
		write(t, filepath.Join(dir, filepath.FromSlash(name)), content)
	}
	name := fmt.Sprintf("%s-%d.git", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), repoSeq.Add(1))
	if err := server.InitRepo(dir, "main", name); err != nil {
		t.Fatal(err)
	}
	r := &remote{path: name, bare: filepath.Join(server.Root(), name)}
	// A link out of production's path, and one that stays inside it.
	r.pushAs(t, "Dev", "dev@example.com", "main", "main", "Link", func(dir string) {
		for link, target := range map[string]string{"production/escape.yaml": "../staging/worker.yaml", "production/worker-link.yaml": "worker.yaml"} {
			if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
				t.Fatal(err)
			}
		}
	})
	return r
}

func yamlEdit(file, container string) batonv1alpha1.ManifestEdit {
	return batonv1alpha1.ManifestEdit{YAML: &batonv1alpha1.YAMLFieldEdit{File: file, Field: "spec.template.spec.containers[name=" + container + "].image"}}
}

// processEnvironment is production with edits instead of edit.
func processEnvironment(t *testing.T, r *remote, edits ...batonv1alpha1.ManifestEdit) *batonv1alpha1.Environment {
	e := environment("production", r.httpURL(), httpSecret(t))
	e.Spec.Delivery.Git.Edit = nil
	e.Spec.Delivery.Git.Edits = edits
	return e
}

// assertLineChanges checks that between two commits exactly the files of
// want changed, each in exactly one line, from the old line to the new.
func assertLineChanges(t *testing.T, r *remote, from, to plumbing.Hash, want map[string][2]string) {
	t.Helper()
	a, err := r.commit(t, from).Tree()
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.commit(t, to).Tree()
	if err != nil {
		t.Fatal(err)
	}
	changes, err := object.DiffTree(a, b)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ch := range changes {
		names = append(names, ch.To.Name)
	}
	var wantNames []string
	for f := range want {
		wantNames = append(wantNames, f)
	}
	slices.Sort(names)
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("changed files %v, want %v", names, wantNames)
	}
	for file, lines := range want {
		before := strings.Split(r.file(t, from, file), "\n")
		after := strings.Split(r.file(t, to, file), "\n")
		if len(before) != len(after) {
			t.Fatalf("%s went from %d to %d lines", file, len(before), len(after))
		}
		var diff []string
		for i := range before {
			if before[i] != after[i] {
				diff = append(diff, before[i]+" => "+after[i])
			}
		}
		if w := []string{lines[0] + " => " + lines[1]}; !slices.Equal(diff, w) {
			t.Errorf("%s: changed lines %q, want %q", file, diff, w)
		}
	}
}

const (
	webV1    = "        image: registry.example/web:v1 # the app's image"
	webV2    = "        image: registry.example/web:v2 # the app's image"
	tagV1    = "    newTag: v1"
	tagV2    = "    newTag: v2"
	webFile  = "production/web.yaml"
	workFile = "production/worker.yaml"
)

// TestSeveralEditsAreOneCommit: a Promotion of an Environment with a web
// and a worker Deployment is one commit that changes one line in each
// file, names both files in its trailers, and is found again instead of
// committed twice.
func TestSeveralEditsAreOneCommit(t *testing.T) {
	r := processFixture(t)
	e := processEnvironment(t, r, yamlEdit("web.yaml", "web"), yamlEdit("worker.yaml", "worker"))
	req := request(e, "v2")
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	before := r.head(t, "main")

	if rec, done, err := d.Delivered(ctx, req); err != nil || done || rec.Commit != "" {
		t.Fatalf("Delivered before delivering = %+v, %v, %v; want nothing", rec, done, err)
	}
	rec, err := d.Deliver(ctx, req)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	head := r.head(t, "main")
	c := r.commit(t, head)
	t.Logf("the commit:\n%s", c)
	if rec.Commit != head.String() || len(c.ParentHashes) != 1 || c.ParentHashes[0] != before {
		t.Fatalf("record %s, head %s with parents %v; want one new commit on %s", rec.Commit, head, c.ParentHashes, before)
	}
	assertLineChanges(t, r, before, head, map[string][2]string{webFile: {webV1, webV2}, workFile: {webV1, webV2}})
	got := trailers(c.Message)
	for k, v := range map[string][]string{
		TrailerPromotionUID: {string(req.Promotion.UID)},
		TrailerPromotedBy:   {"alice"},
		TrailerApprovedBy:   {"bob", "carol"},
		TrailerEnvironment:  {namespace + "/production"},
		TrailerFile:         {webFile, workFile},
	} {
		if !slices.Equal(got[k], v) {
			t.Errorf("trailer %s = %v, want %v", k, got[k], v)
		}
	}
	if len(got[TrailerSignature]) != 1 {
		t.Errorf("%d %s trailers, want 1", len(got[TrailerSignature]), TrailerSignature)
	}

	// Asked again, it finds its commit and does not commit twice.
	if again, done, err := d.Delivered(ctx, req); err != nil || !done || again.Commit != rec.Commit {
		t.Fatalf("Delivered after delivering = %+v, %v, %v; want %s, true", again, done, err, rec.Commit)
	}
	if again, err := d.Deliver(ctx, req); err != nil || again.Commit != rec.Commit || r.head(t, "main") != head {
		t.Fatalf("a second Deliver = %+v, %v, main at %s; want the same commit and no new one", again, err, r.head(t, "main"))
	}
	if n := r.commitsOf(t, "main", req.Promotion.UID); n != 1 {
		t.Errorf("%d commits carry the Promotion's UID, want 1", n)
	}
}

// TestSeveralEditsCrashAfterPush: a manager that pushed a commit of two
// files and crashed before the engine recorded it restarts with an empty
// cache, finds the commit by its trailer with another commit on top, and
// does not commit again.
func TestSeveralEditsCrashAfterPush(t *testing.T) {
	r := processFixture(t)
	e := processEnvironment(t, r, yamlEdit("web.yaml", "web"), yamlEdit("worker.yaml", "worker"))
	req := request(e, "v2")
	ctx := testContext(t, nil)
	rec, err := newDeliverer(t).Deliver(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else commits on top before the restart.
	other := environment("staging", r.httpURL(), httpSecret(t))
	other.Spec.Delivery.Git.Edit = ptr(yamlEdit("worker.yaml", "worker"))
	if _, err := newDeliverer(t).Deliver(ctx, request(other, "v3")); err != nil {
		t.Fatal(err)
	}
	head := r.head(t, "main")

	restarted := newDeliverer(t)
	found, done, err := restarted.Delivered(ctx, req)
	if err != nil || !done || found.Commit != rec.Commit {
		t.Fatalf("after the restart Delivered = %+v, %v, %v; want %s, true", found, done, err, rec.Commit)
	}
	if again, err := restarted.Deliver(ctx, req); err != nil || again.Commit != rec.Commit {
		t.Fatalf("after the restart Deliver = %+v, %v; want %s", again, err, rec.Commit)
	}
	if r.head(t, "main") != head {
		t.Error("the restarted Deliverer committed again")
	}
	if n := r.commitsOf(t, "main", req.Promotion.UID); n != 1 {
		t.Errorf("%d commits carry the Promotion's UID, want exactly 1", n)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSeveralEditsKustomizeAndYAML: a kustomize edit and a YAML edit in one
// commit, one line each.
func TestSeveralEditsKustomizeAndYAML(t *testing.T) {
	r := processFixture(t)
	e := processEnvironment(t, r,
		batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{ImageName: "registry.example/web"}},
		yamlEdit("worker.yaml", "worker"))
	before := r.head(t, "main")
	rec, err := newDeliverer(t).Deliver(testContext(t, nil), request(e, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Commit != r.head(t, "main").String() {
		t.Fatalf("record %s, head %s", rec.Commit, r.head(t, "main"))
	}
	assertLineChanges(t, r, before, r.head(t, "main"), map[string][2]string{
		"production/kustomization.yaml": {tagV1, tagV2}, workFile: {webV1, webV2}})
}

// TestDeliveredOnlyWhenEveryFieldHoldsTheImage: when someone else already
// moved the web Deployment, the Promotion is not delivered until the worker
// moves too, and its commit changes only the worker.
func TestDeliveredOnlyWhenEveryFieldHoldsTheImage(t *testing.T) {
	r := processFixture(t)
	ctx := testContext(t, nil)
	webOnly := processEnvironment(t, r, yamlEdit("web.yaml", "web"))
	if _, err := newDeliverer(t).Deliver(ctx, request(webOnly, "v2")); err != nil {
		t.Fatal(err)
	}
	before := r.head(t, "main")
	e := processEnvironment(t, r, yamlEdit("web.yaml", "web"), yamlEdit("worker.yaml", "worker"))
	req := request(e, "v2")
	d := newDeliverer(t)
	if rec, done, err := d.Delivered(ctx, req); err != nil || done {
		t.Fatalf("Delivered with only web at v2 = %+v, %v, %v; want not delivered", rec, done, err)
	}
	if _, err := d.Deliver(ctx, req); err != nil {
		t.Fatal(err)
	}
	assertLineChanges(t, r, before, r.head(t, "main"), map[string][2]string{workFile: {webV1, webV2}})
	// Now every field holds v2: a new Promotion of it commits nothing.
	head := r.head(t, "main")
	if rec, done, err := d.Delivered(ctx, request(e, "v2")); err != nil || !done || rec.Commit != "" {
		t.Fatalf("Delivered with both at v2 = %+v, %v, %v; want delivered with no commit", rec, done, err)
	}
	if rec, err := d.Deliver(ctx, request(e, "v2")); err != nil || rec.Commit != "" || r.head(t, "main") != head {
		t.Fatalf("Deliver with both at v2 = %+v, %v; want no commit", rec, err)
	}
}

// TestSeveralEditsInAGroupCommit: a multi-edit Environment and a
// single-edit one land in one group commit, each block naming and signing
// its own files, and each is found again by a fresh Deliverer.
func TestSeveralEditsInAGroupCommit(t *testing.T) {
	r := processFixture(t)
	ref := httpSecret(t)
	multi := environment("production", r.httpURL(), ref)
	multi.Spec.Delivery.Git.Edit = nil
	multi.Spec.Delivery.Git.Edits = []batonv1alpha1.ManifestEdit{yamlEdit("web.yaml", "web"), yamlEdit("worker.yaml", "worker")}
	single := environment("staging", r.httpURL(), ref)
	single.Spec.Delivery.Git.Edit = ptr(yamlEdit("worker.yaml", "worker"))
	a, b := request(multi, "v2"), request(single, "v2")
	before := r.head(t, "main")
	jobs := batchOf(t, newDeliverer(t), []delivery.Request{a, b})
	for _, j := range jobs {
		if j.err != nil || j.rec.Commit != r.head(t, "main").String() {
			t.Fatalf("%s: %+v, %v; want the head %s", j.s.req.Promotion.Name, j.rec, j.err, r.head(t, "main"))
		}
	}
	head := r.head(t, "main")
	if c := r.commit(t, head); len(c.ParentHashes) != 1 || c.ParentHashes[0] != before {
		t.Fatalf("the group commit's parents are %v, want %s", c.ParentHashes, before)
	}
	assertLineChanges(t, r, before, head, map[string][2]string{webFile: {webV1, webV2}, workFile: {webV1, webV2}, "staging/worker.yaml": {webV1, webV2}})
	msg := r.commit(t, head).Message
	if got := blockOf(msg, string(a.Promotion.UID))[TrailerFile]; !slices.Equal(got, []string{webFile, workFile}) {
		t.Errorf("production's block names %v", got)
	}
	if got := blockOf(msg, string(b.Promotion.UID))[TrailerFile]; !slices.Equal(got, []string{"staging/worker.yaml"}) {
		t.Errorf("staging's block names %v", got)
	}
	fresh := newDeliverer(t)
	ctx := testContext(t, nil)
	for _, req := range []delivery.Request{a, b} {
		if rec, done, err := fresh.Delivered(ctx, req); err != nil || !done || rec.Commit != head.String() {
			t.Errorf("%s: Delivered = %+v, %v, %v; want %s", req.Promotion.Name, rec, done, err, head)
		}
	}
}

// TestSeveralEditsBadInput: an Environment whose edits a person must fix
// is refused with a reason and a message naming the edit at fault, for
// Delivered and Deliver alike, and nothing is pushed: not even the edits
// that were fine.
func TestSeveralEditsBadInput(t *testing.T) {
	r := processFixture(t)
	web := yamlEdit("web.yaml", "web")
	cases := []struct {
		name   string
		edits  []batonv1alpha1.ManifestEdit
		mutate func(g *batonv1alpha1.GitDelivery)
		reason string
		says   []string
	}{
		{name: "the same file and field twice", edits: []batonv1alpha1.ManifestEdit{web, yamlEdit("worker.yaml", "worker"), web},
			reason: batonv1alpha1.ManifestInvalidReason,
			says:   []string{"delivery.git.edits[2].yaml.field: production/web.yaml: spec.template.spec.containers[name=web].image is set by delivery.git.edits[0] already"}},
		{name: "the same field through a symlink", edits: []batonv1alpha1.ManifestEdit{yamlEdit("worker.yaml", "worker"), yamlEdit("worker-link.yaml", "worker")},
			reason: batonv1alpha1.ManifestInvalidReason,
			says:   []string{"delivery.git.edits[1].yaml.field: production/worker.yaml: spec.template.spec.containers[name=worker].image is set by delivery.git.edits[0] already"}},
		{name: "an edit leaves the path", edits: []batonv1alpha1.ManifestEdit{web, yamlEdit("escape.yaml", "worker")},
			reason: batonv1alpha1.PathEscapesReason,
			says:   []string{"delivery.git.edits[1].yaml.file", "symlink production/escape.yaml -> ../staging/worker.yaml leaves delivery.git.path production"}},
		{name: "a field that does not exist", edits: []batonv1alpha1.ManifestEdit{web, yamlEdit("worker.yaml", "api")},
			reason: batonv1alpha1.ManifestInvalidReason,
			says:   []string{"delivery.git.edits[1].yaml.field", "no element matches [name=api]"}},
		{name: "a file that does not exist", edits: []batonv1alpha1.ManifestEdit{web, yamlEdit("clock.yaml", "clock")},
			reason: batonv1alpha1.ManifestInvalidReason, says: []string{"delivery.git.edits[1].yaml.file", "clock.yaml does not exist"}},
		{name: "an edit names .git", edits: []batonv1alpha1.ManifestEdit{web, yamlEdit(".git/config", "web")},
			reason: batonv1alpha1.ManifestInvalidReason, says: []string{"delivery.git.edits[1].yaml.file may not name .git"}},
		{name: "a kustomize edit without a kustomization", edits: []batonv1alpha1.ManifestEdit{web, {Kustomize: &batonv1alpha1.KustomizeEdit{}}},
			mutate: func(g *batonv1alpha1.GitDelivery) { g.Path = "staging"; g.Edits[0] = yamlEdit("worker.yaml", "worker") },
			reason: batonv1alpha1.ManifestInvalidReason, says: []string{"delivery.git.path: in delivery.git.edits[1]: staging has no kustomization.yaml"}},
		{name: "edit and edits both set", edits: []batonv1alpha1.ManifestEdit{web},
			mutate: func(g *batonv1alpha1.GitDelivery) { g.Edit = ptr(web) },
			reason: batonv1alpha1.ManifestInvalidReason, says: []string{"exactly one of delivery.git.edit or delivery.git.edits"}},
		{name: "an edit of no kind", edits: []batonv1alpha1.ManifestEdit{web, {}},
			reason: batonv1alpha1.ManifestInvalidReason, says: []string{"delivery.git.edits[1]: exactly one of kustomize, yaml or helm"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := r.head(t, "main")
			e := processEnvironment(t, r, tc.edits...)
			if tc.mutate != nil {
				tc.mutate(e.Spec.Delivery.Git)
			}
			req := request(e, "v2")
			d := newDeliverer(t)
			ctx := testContext(t, nil)
			_, _, derr := d.Delivered(ctx, req)
			_, err := d.Deliver(ctx, req)
			for _, err := range []error{derr, err} {
				de, ok := outcome.AsStalled(err)
				if !ok {
					t.Fatalf("error %v, want Stalled %s", err, tc.reason)
				}
				if de.Reason != tc.reason {
					t.Errorf("reason %s (%s), want %s", de.Reason, de.Message, tc.reason)
				}
				for _, s := range tc.says {
					if !strings.Contains(de.Message, s) {
						t.Errorf("message %q lacks %q", de.Message, s)
					}
				}
			}
			if r.head(t, "main") != before {
				t.Errorf("main moved from %s to %s", before, r.head(t, "main"))
			}
		})
	}
}

// TestForgedMultiFileCommitIsNotDelivered: someone with push rights
// replays the message of a genuine commit of two files (its UID, its
// Baton-File trailers and its signature) over other changes. The signature
// covers both files and their content, so none of these counts: Baton
// stalls with ForeignCommit and pushes nothing on top.
func TestForgedMultiFileCommitIsNotDelivered(t *testing.T) {
	genuineRepo := processFixture(t)
	req := request(processEnvironment(t, genuineRepo, yamlEdit("web.yaml", "web"), yamlEdit("worker.yaml", "worker")), "v2")
	if _, err := newDeliverer(t).Deliver(testContext(t, nil), req); err != nil {
		t.Fatal(err)
	}
	message := genuineRepo.commit(t, genuineRepo.head(t, "main")).Message
	setImage := func(file, tag string) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, filepath.FromSlash(file))
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, strings.Replace(string(data), "web:v1", "web:"+tag, 1))
		}
	}
	both := func(dir string) { setImage(webFile, "v2")(dir); setImage(workFile, "v2")(dir) }
	cases := []struct {
		name   string
		change func(dir string)
		why    string
	}{
		{"another image in one of the files", func(dir string) { setImage(webFile, "v2")(dir); setImage(workFile, "evil")(dir) },
			"the Baton-Signature of its block of " + string(req.Promotion.UID) + " does not verify"},
		{"a new file", func(dir string) {
			both(dir)
			write(t, filepath.Join(dir, "production", "evil.yaml"), "kind: ClusterRoleBinding\n")
		},
			"it adds, removes or renames production/evil.yaml"},
		{"a third file changed", func(dir string) { both(dir); setImage("staging/worker.yaml", "evil")(dir) },
			"it changes 3 files and its blocks sign 2"},
		{"one of the two files only", setImage(webFile, "v2"),
			"its block of " + string(req.Promotion.UID) + " names production/worker.yaml, which it does not change once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := processFixture(t)
			e := processEnvironment(t, r, yamlEdit("web.yaml", "web"), yamlEdit("worker.yaml", "worker"))
			forgedReq := req
			forgedReq.Environment = e
			forged := r.pushAs(t, DefaultAuthorName, DefaultAuthorEmail, "main", "main", message, tc.change)
			d := newDeliverer(t)
			ctx := testContext(t, nil)
			_, done, derr := d.Delivered(ctx, forgedReq)
			_, err := d.Deliver(ctx, forgedReq)
			if done {
				t.Errorf("Delivered counts the forged commit %s", forged)
			}
			for _, err := range []error{derr, err} {
				expectStalled(t, err, batonv1alpha1.ForeignCommitReason, "commit "+short(forged)+" carries this Promotion's Baton-Promotion-UID trailer, but Baton did not make it: "+tc.why)
			}
			if r.head(t, "main") != forged {
				t.Errorf("Baton pushed on top of the forged commit: main is %s, was %s", r.head(t, "main"), forged)
			}
		})
	}
}
