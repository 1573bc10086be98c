package source

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/google/go-containerregistry/pkg/name"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// ShortSHALen is how many hex digits .ShortSHA has: Git's and most CI
// systems' default abbreviation.
const ShortSHALen = 7

// maxRendered bounds the rendered image, like the Promotion's spec.image.
const maxRendered = 512

// Commit is what spec.source.image sees.
type Commit struct {
	// SHA is the full commit hash.
	SHA string
	// ShortSHA is the first ShortSHALen hex digits of SHA.
	ShortSHA string
	// Branch is spec.source.git.branch.
	Branch string
}

// NewCommit is the template data for one commit of branch.
func NewCommit(sha, branch string) Commit {
	short := sha
	if len(short) > ShortSHALen {
		short = short[:ShortSHALen]
	}
	return Commit{SHA: sha, ShortSHA: short, Branch: branch}
}

// ImageTemplate is a parsed spec.source.image.
type ImageTemplate struct {
	tmpl *template.Template
}

// ParseImageTemplate parses spec.source.image. It refuses range (which can
// spin without output), template/define/block and break/continue, so that
// rendering is cheap and bounded, and it renders a sample commit so that a
// misspelt field (.Sha) is reported before any commit arrives.
func ParseImageTemplate(text string) (*ImageTemplate, error) {
	t, err := template.New("spec.source.image").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, stalledTemplate("spec.source.image %q does not parse: %s", text, trimTemplateErr(err))
	}
	if err := checkNodes(t.Root); err != nil {
		return nil, stalledTemplate("spec.source.image %q: %s", text, err)
	}
	if len(t.Templates()) > 1 {
		return nil, stalledTemplate("spec.source.image %q: define and block are not allowed; write one image reference", text)
	}
	it := &ImageTemplate{tmpl: t}
	if _, err := it.Render(NewCommit(strings.Repeat("0", 40), "main")); err != nil {
		return nil, err
	}
	return it, nil
}

// checkNodes allows text, actions, if/else and with; nothing that loops or
// calls another template.
func checkNodes(n parse.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode, *parse.ActionNode, *parse.CommentNode:
		return nil
	case *parse.IfNode:
		return errors.Join(checkNodes(n.List), checkNodes(n.ElseList))
	case *parse.WithNode:
		return errors.Join(checkNodes(n.List), checkNodes(n.ElseList))
	case *parse.RangeNode:
		return errors.New("range is not allowed; use .SHA, .ShortSHA and .Branch")
	case *parse.TemplateNode:
		return errors.New("template actions are not allowed; write one image reference")
	default:
		return fmt.Errorf("%q is not allowed; use .SHA, .ShortSHA and .Branch", n.String())
	}
}

// limitedBuffer fails a write past maxRendered, which stops the template.
type limitedBuffer struct{ bytes.Buffer }

var errTooLong = fmt.Errorf("renders more than %d characters", maxRendered)

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLong
	}
	return b.Buffer.Write(p)
}

// Render is the image for commit. A result that is not an image reference
// (go-containerregistry's parser decides) is an InvalidImageTemplate error
// too.
func (t *ImageTemplate) Render(c Commit) (string, error) {
	var out limitedBuffer
	if err := t.tmpl.Execute(&out, c); err != nil {
		if errors.Is(err, errTooLong) {
			return "", stalledTemplate("spec.source.image %s; an image reference is at most %d characters", errTooLong, maxRendered)
		}
		return "", stalledTemplate("spec.source.image cannot be rendered: %s; it sees .SHA, .ShortSHA and .Branch", trimTemplateErr(err))
	}
	image := out.String()
	if strings.TrimSpace(image) != image || image == "" {
		return "", stalledTemplate("spec.source.image renders %q for commit %s, which is empty or has surrounding space", image, c.ShortSHA)
	}
	if _, err := name.ParseReference(image); err != nil {
		return "", stalledTemplate("spec.source.image renders %q for commit %s, which is not an image reference: %s", image, c.ShortSHA, err)
	}
	return image, nil
}

func stalledTemplate(format string, args ...any) error {
	return outcome.Stall(batonv1alpha1.InvalidImageTemplateReason, format, args...)
}

// trimTemplateErr drops the "template: spec.source.image:1:2: " prefix that
// repeats what the message already says.
func trimTemplateErr(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	return msg
}
