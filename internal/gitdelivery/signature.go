package gitdelivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// TrailerSignature carries an HMAC that only the manager can compute. A
// Promotion's UID is readable by everyone who can read Promotions, so the
// Baton-Promotion-UID trailer alone proves nothing: anyone with push rights
// could write it into a commit of their own.
const TrailerSignature = "Baton-Signature"

// KeySource hands out the manager's secret key. The commit key is derived
// from it, so that a signature can never be replayed as an admission marker.
type KeySource interface {
	Key(ctx context.Context) ([]byte, error)
}

// StaticKey is a KeySource with a fixed key, for tools and tests.
type StaticKey []byte

// Key returns the key.
func (k StaticKey) Key(context.Context) ([]byte, error) { return k, nil }

// commitKey derives the key of commit signatures from the manager's key.
func commitKey(managerKey []byte) []byte {
	mac := hmac.New(sha256.New, managerKey)
	mac.Write([]byte("baton.dev commit signature v1"))
	return mac.Sum(nil)
}

// signedFile is a file a Promotion's commit changes, and its new content
// (its blob).
type signedFile struct {
	name string
	blob plumbing.Hash
}

// signature binds a Promotion's commit to what it changed: the Environment,
// the Promotion's UID, and each file it changes with that file's new
// content, in the order of their names (so that with one file it is what
// it always was). It leaves out the parent and the committer, so that a
// forge's rebase merge of a pushBranch commit still verifies; a commit that
// changes anything else no longer does. In a group commit, each
// Promotion's block carries its own signature over its own files.
func signature(key []byte, namespace, envName, uid string, files []signedFile) string {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b signedFile) int { return strings.Compare(a.name, b.name) })
	mac := hmac.New(sha256.New, key)
	parts := []string{namespace, envName, uid}
	for _, f := range files {
		parts = append(parts, f.name, f.blob.String())
	}
	for _, part := range parts {
		mac.Write([]byte(part))
		mac.Write([]byte{0})
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// signed pairs each file with its blob in blobs.
func signed(files []string, blobs map[string]plumbing.Hash) []signedFile {
	out := make([]signedFile, 0, len(files))
	for _, f := range files {
		out = append(out, signedFile{name: f, blob: blobs[f]})
	}
	return out
}

// errNotVerifiable marks a commit whose parent lies beyond a shallow
// clone's edge: it can be neither accepted nor blamed.
var errNotVerifiable = errors.New("the commit's parent is not in the clone")

// verify checks that a commit carrying the Promotion's UID is Baton's own:
// Baton's author, exactly one parent, and every file it changes covered by
// a Baton-Signature: a commit of one Promotion with one edit changes
// exactly one file, inside delivery.git.path; a commit of several edits,
// or a group commit, has one signed block per Promotion, each naming its
// files (Baton-File), and changes nothing no block covers.
// The error says which of these fails, for a ForeignCommit message.
func (s *session) verify(c *object.Commit) error {
	name, email := author(s.req.Environment)
	if c.Author.Name != name || c.Author.Email != email {
		return fmt.Errorf("its author is %s <%s>, not Baton's %s <%s>", c.Author.Name, c.Author.Email, name, email)
	}
	blocks := trailerBlocks(c.Message)
	mine, err := s.ownBlock(blocks)
	if err != nil {
		return err
	}
	if len(c.ParentHashes) != 1 {
		return fmt.Errorf("it has %d parents; Baton's commits have one", len(c.ParentHashes))
	}
	parent, err := c.Parent(0)
	if err != nil {
		return errNotVerifiable
	}
	changes, err := changedFiles(parent, c)
	if err != nil {
		return err
	}
	var files []string
	if len(blocks) == 1 && len(mine[TrailerFile]) == 0 {
		var file string
		file, err = changes.onlyChange()
		files = []string{file}
	} else if err = changes.onlyModified(); err == nil {
		files, err = s.verifyGroup(blocks, changes.modified)
	}
	if err != nil {
		return err
	}
	for _, file := range files {
		if dir := path.Clean(s.git.Path); dir != "." && dir != "" && !strings.HasPrefix(file, dir+"/") {
			return fmt.Errorf("it changes %s, outside delivery.git.path %s", file, dir)
		}
	}
	env := s.req.Environment
	want := signature(s.signingKey, env.Namespace, env.Name, string(s.req.Promotion.UID), signed(files, changes.modified))
	if !hmac.Equal([]byte(mine[TrailerSignature][0]), []byte(want)) {
		return fmt.Errorf("its %s does not verify", TrailerSignature)
	}
	return nil
}

// ownBlock is the one trailer block of this Promotion, with one signature.
func (s *session) ownBlock(blocks []map[string][]string) (map[string][]string, error) {
	uid := string(s.req.Promotion.UID)
	var mine []map[string][]string
	for _, b := range blocks {
		if slices.Contains(b[TrailerPromotionUID], uid) {
			mine = append(mine, b)
		}
	}
	if len(mine) != 1 {
		return nil, fmt.Errorf("it has %d trailer blocks of this Promotion, want 1", len(mine))
	}
	if sigs := mine[0][TrailerSignature]; len(sigs) != 1 {
		return nil, fmt.Errorf("it has %d %s trailers, want 1", len(sigs), TrailerSignature)
	}
	return mine[0], nil
}

// verifyGroup checks every block of a commit whose blocks name their
// files: each names one Environment and at least one file, no file is
// named twice, each signature verifies over its block's files, and the
// files named are exactly the files changed. So no block can be forged
// into a commit, and no change can ride along unsigned. It returns this
// Promotion's files.
func (s *session) verifyGroup(blocks []map[string][]string, changes map[string]plumbing.Hash) ([]string, error) {
	uid := string(s.req.Promotion.UID)
	claimed := map[string]bool{}
	var mine []string
	for _, b := range blocks {
		uids, envs, files, sigs := b[TrailerPromotionUID], b[TrailerEnvironment], b[TrailerFile], b[TrailerSignature]
		if len(uids) != 1 || len(envs) != 1 || len(files) == 0 || len(sigs) != 1 {
			return nil, fmt.Errorf("a trailer block has %d %s, %d %s, %d %s and %d %s trailers, want one of each (and one %s or more)",
				len(uids), TrailerPromotionUID, len(envs), TrailerEnvironment, len(files), TrailerFile, len(sigs), TrailerSignature, TrailerFile)
		}
		for _, file := range files {
			if _, ok := changes[file]; !ok || claimed[file] {
				return nil, fmt.Errorf("its block of %s names %s, which it does not change once", uids[0], file)
			}
			claimed[file] = true
		}
		ns, envName, _ := strings.Cut(envs[0], "/")
		if !hmac.Equal([]byte(sigs[0]), []byte(signature(s.signingKey, ns, envName, uids[0], signed(files, changes)))) {
			return nil, fmt.Errorf("the %s of its block of %s does not verify", TrailerSignature, uids[0])
		}
		if uids[0] == uid {
			mine = files
		}
	}
	if len(claimed) != len(changes) {
		return nil, fmt.Errorf("it changes %d files and its blocks sign %d", len(changes), len(claimed))
	}
	return mine, nil
}

// changes is what a commit changes against its parent: the files it
// modifies, with their new blobs, and the files it adds, removes or
// renames, which no commit of Baton's does.
type changes struct {
	modified map[string]plumbing.Hash
	other    []string
}

func changedFiles(parent, c *object.Commit) (changes, error) {
	from, err := parent.Tree()
	if err != nil {
		return changes{}, errNotVerifiable
	}
	to, err := c.Tree()
	if err != nil {
		return changes{}, fmt.Errorf("read its tree: %w", err)
	}
	diff, err := object.DiffTree(from, to)
	if err != nil {
		return changes{}, fmt.Errorf("diff it against its parent: %w", err)
	}
	out := changes{modified: make(map[string]plumbing.Hash, len(diff))}
	for _, ch := range diff {
		if ch.From.Name != ch.To.Name || ch.From.Name == "" {
			out.other = append(out.other, changeName(ch))
			continue
		}
		out.modified[ch.To.Name] = ch.To.TreeEntry.Hash
	}
	return out, nil
}

// onlyModified refuses a commit that adds, removes or renames a file.
func (ch changes) onlyModified() error {
	if len(ch.other) > 0 {
		return fmt.Errorf("it adds, removes or renames %s; Baton's commits only modify a file", ch.other[0])
	}
	return nil
}

// onlyChange is the one file a commit of one Promotion modifies.
func (ch changes) onlyChange() (string, error) {
	names := append(slices.Collect(maps.Keys(ch.modified)), ch.other...)
	if len(names) != 1 {
		slices.Sort(names)
		return "", fmt.Errorf("it changes %d files (%s); Baton's commits change one", len(names), strings.Join(names[:min(len(names), 5)], ", "))
	}
	return names[0], ch.onlyModified()
}

func changeName(ch *object.Change) string {
	if ch.To.Name != "" {
		return ch.To.Name
	}
	return ch.From.Name
}

// foreign is the refusal of a commit that carries the Promotion's UID but
// is not Baton's.
func (s *session) foreign(c *object.Commit, why error) error {
	return outcome.Stall(batonv1alpha1.ForeignCommitReason,
		"commit %s carries this Promotion's %s trailer, but Baton did not make it: %v. Baton does not count it as this Promotion's delivery, and commits nothing on top; "+
			"revert it (someone with push rights wrote it), then create the Promotion again", short(c.Hash), TrailerPromotionUID, why)
}
