package verification

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// maxRendered bounds a rendered query, like spec's query itself.
const maxRendered = 8192

// QueryData is what a query template sees.
type QueryData struct {
	// Namespace is the Environment's namespace.
	Namespace string
	// Environment is the Environment's name.
	Environment string
	// Workload and WorkloadNamespace name the workload.
	Workload, WorkloadNamespace string
	// Container is spec.workload.container.
	Container string
	// Image is the image the workload runs; Tag is its tag, if any.
	Image, Tag string
	// Revision is the history revision of that image, as text.
	Revision string
}

// fields are the names a query may use, in the order docs list them.
var fields = []string{"Namespace", "Environment", "Workload", "WorkloadNamespace", "Container", "Image", "Tag", "Revision"}

// Query is a parsed query template.
type Query struct {
	tmpl *template.Template
}

// ParseQuery parses a check's query. Only text and field access
// ({{.Namespace}}) are allowed: no pipelines, functions, conditionals, loops
// or template calls, so that rendering is cheap, bounded and cannot reach
// anything but the fields listed. field names the spec field in errors.
func ParseQuery(field, text string) (*Query, error) {
	t, err := template.New(field).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s does not parse as a template: %s", field, strings.TrimPrefix(err.Error(), "template: "))
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("%s: define and block are not allowed; only field access such as {{.Namespace}}", field)
	}
	if t.Root == nil {
		return &Query{tmpl: t}, nil
	}
	for _, n := range t.Root.Nodes {
		if err := fieldOnly(n); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
	}
	return &Query{tmpl: t}, nil
}

// fieldOnly accepts a text node, or an action that is one field of
// QueryData and nothing else.
func fieldOnly(n parse.Node) error {
	switch n := n.(type) {
	case *parse.TextNode:
		return nil
	case *parse.ActionNode:
		p := n.Pipe
		if len(p.Decl) == 0 && len(p.Cmds) == 1 && len(p.Cmds[0].Args) == 1 {
			if f, ok := p.Cmds[0].Args[0].(*parse.FieldNode); ok && len(f.Ident) == 1 && slices.Contains(fields, f.Ident[0]) {
				return nil
			}
		}
		return fmt.Errorf("%s is not allowed; a query may only use the fields .%s", n, strings.Join(fields, ", ."))
	default:
		return fmt.Errorf("%s is not allowed; a query may only use text and the fields .%s", n, strings.Join(fields, ", ."))
	}
}

// Render is the query for data.
func (q *Query) Render(data QueryData) (string, error) {
	var out bytes.Buffer
	if err := q.tmpl.Execute(&out, data); err != nil {
		return "", fmt.Errorf("%s cannot be rendered: %s", q.tmpl.Name(), strings.TrimPrefix(err.Error(), "template: "))
	}
	if out.Len() > maxRendered {
		return "", fmt.Errorf("%s renders more than %d characters", q.tmpl.Name(), maxRendered)
	}
	return out.String(), nil
}
