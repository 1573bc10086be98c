package gitdelivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
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

// signature binds a Promotion's commit to what it changed: the Environment,
// the Promotion's UID, the one file and that file's new content (its blob).
// It leaves out the parent and the committer, so that a forge's rebase merge
// of a pushBranch commit still verifies; a commit that changes anything
// else no longer does.
func signature(key []byte, env *batonv1alpha1.Environment, uid, file string, blob plumbing.Hash) string {
	mac := hmac.New(sha256.New, key)
	for _, part := range []string{env.Namespace, env.Name, uid, file, blob.String()} {
		mac.Write([]byte(part))
		mac.Write([]byte{0})
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// errNotVerifiable marks a commit whose parent lies beyond a shallow
// clone's edge: it can be neither accepted nor blamed.
var errNotVerifiable = errors.New("the commit's parent is not in the clone")

// verify checks that a commit carrying the Promotion's UID is Baton's own:
// Baton's author, exactly one parent, exactly one file changed, inside
// delivery.git.path, and a Baton-Signature over that file's new content.
// The error says which of these fails, for a ForeignCommit message.
func (s *session) verify(c *object.Commit) error {
	name, email := author(s.req.Environment)
	if c.Author.Name != name || c.Author.Email != email {
		return fmt.Errorf("its author is %s <%s>, not Baton's %s <%s>", c.Author.Name, c.Author.Email, name, email)
	}
	sigs := trailers(c.Message)[TrailerSignature]
	if len(sigs) != 1 {
		return fmt.Errorf("it has %d %s trailers, want 1", len(sigs), TrailerSignature)
	}
	if len(c.ParentHashes) != 1 {
		return fmt.Errorf("it has %d parents; Baton's commits have one", len(c.ParentHashes))
	}
	parent, err := c.Parent(0)
	if err != nil {
		return errNotVerifiable
	}
	file, blob, err := onlyChange(parent, c)
	if err != nil {
		return err
	}
	if dir := path.Clean(s.git.Path); dir != "." && dir != "" && !strings.HasPrefix(file, dir+"/") {
		return fmt.Errorf("it changes %s, outside delivery.git.path %s", file, dir)
	}
	want := signature(s.signingKey, s.req.Environment, string(s.req.Promotion.UID), file, blob)
	if !hmac.Equal([]byte(sigs[0]), []byte(want)) {
		return fmt.Errorf("its %s does not verify", TrailerSignature)
	}
	return nil
}

// onlyChange is the one file that c modifies against parent, and its new
// blob. A commit that adds, removes or changes anything else is not one
// Baton made.
func onlyChange(parent, c *object.Commit) (string, plumbing.Hash, error) {
	from, err := parent.Tree()
	if err != nil {
		return "", plumbing.ZeroHash, errNotVerifiable
	}
	to, err := c.Tree()
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("read its tree: %w", err)
	}
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("diff it against its parent: %w", err)
	}
	if len(changes) != 1 {
		names := make([]string, 0, min(len(changes), 5))
		for _, ch := range changes[:min(len(changes), 5)] {
			names = append(names, changeName(ch))
		}
		return "", plumbing.ZeroHash, fmt.Errorf("it changes %d files (%s); Baton's commits change one", len(changes), strings.Join(names, ", "))
	}
	ch := changes[0]
	if ch.From.Name != ch.To.Name || ch.From.Name == "" {
		return "", plumbing.ZeroHash, fmt.Errorf("it adds, removes or renames %s; Baton's commits only modify a file", changeName(ch))
	}
	return ch.To.Name, ch.To.TreeEntry.Hash, nil
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
