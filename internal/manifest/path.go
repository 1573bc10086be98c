package manifest

import (
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// step is one element of a field path: a map key, optionally followed by
// selectors that pick one element of the list under it.
type step struct {
	key       string
	selectors []selector
}

// selector picks a list element: by index ([0]) or by the value of one of
// its fields ([name=web]).
type selector struct {
	index int // -1 when selecting by field
	field string
	value string
}

func (sel selector) String() string {
	if sel.index >= 0 {
		return fmt.Sprintf("[%d]", sel.index)
	}
	return fmt.Sprintf("[%s=%s]", sel.field, sel.value)
}

// parsePath parses a.b.c, spec.containers[name=web].image and list[0].
// Dots inside brackets are part of the value, so [name=web.v2] works.
func parsePath(path string) ([]step, error) {
	if path == "" {
		return nil, fmt.Errorf("the field path is empty")
	}
	var steps []step
	cur := step{}
	i := 0
	for i < len(path) {
		switch c := path[i]; c {
		case '.':
			if cur.key == "" && len(cur.selectors) == 0 || i == len(path)-1 {
				return nil, fmt.Errorf("empty element in field path %q", path)
			}
			steps = append(steps, cur)
			cur = step{}
			i++
		case '[':
			closing := strings.IndexByte(path[i:], ']')
			if closing < 0 {
				return nil, fmt.Errorf("unclosed [ in field path %q", path)
			}
			sel, err := parseSelector(path[i+1 : i+closing])
			if err != nil {
				return nil, fmt.Errorf("bad selector %q in field path %q: %w", path[i:i+closing+1], path, err)
			}
			if cur.key == "" && len(steps) == 0 && len(cur.selectors) == 0 {
				return nil, fmt.Errorf("selector %q in field path %q has no list field before it", path[i:i+closing+1], path)
			}
			cur.selectors = append(cur.selectors, sel)
			i += closing + 1
			if i < len(path) && path[i] != '.' && path[i] != '[' {
				return nil, fmt.Errorf("unexpected %q after %q in field path %q", path[i], path[:i], path)
			}
		case ']', '=':
			return nil, fmt.Errorf("unexpected %q in field path %q", c, path)
		default:
			if len(cur.selectors) > 0 {
				return nil, fmt.Errorf("unexpected %q after a selector in field path %q", c, path)
			}
			cur.key += string(c)
			i++
		}
	}
	return append(steps, cur), nil
}

func parseSelector(s string) (selector, error) {
	field, value, ok := strings.Cut(s, "=")
	if !ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return selector{}, fmt.Errorf("want [field=value] or [index]")
		}
		return selector{index: n}, nil
	}
	if field == "" || value == "" {
		return selector{}, fmt.Errorf("want [field=value], with neither part empty")
	}
	if strings.ContainsAny(field, "[=") || strings.ContainsAny(value, "[=") {
		return selector{}, fmt.Errorf("want [field=value]")
	}
	return selector{index: -1, field: field, value: value}, nil
}

// target is a node found by a path, and whether it sits in flow style,
// which changes where a plain value ends.
type target struct {
	node *yaml.Node
	flow bool
}

// lookupError says how far a path matched, so that the best error among
// several documents can be reported.
type lookupError struct {
	depth  int
	reason string
}

func (e *lookupError) Error() string { return e.reason }

// lookup follows path from a document's root to a scalar, or to an alias
// that the edit will replace with a scalar. It does not follow aliases on the
// way, because editing inside an anchor would change every place that uses it.
func lookup(doc *yaml.Node, steps []step) (target, error) {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return target{}, &lookupError{reason: "the document is empty"}
		}
		n = n.Content[0]
	}
	flow := false
	walked := ""
	depth := 0
	for _, st := range steps {
		if st.key != "" {
			if n.Kind != yaml.MappingNode {
				return target{}, &lookupError{depth, fmt.Sprintf("%s is %s, not a map, so it has no field %q", describePath(walked), kindName(n), st.key)}
			}
			flow = flow || n.Style&yaml.FlowStyle != 0
			_, v, err := mapValue(n, st.key)
			if err != nil {
				return target{}, &lookupError{depth, fmt.Sprintf("%s: %v", describePath(walked), err)}
			}
			walked = joinPath(walked, st.key)
			if v == nil {
				return target{}, &lookupError{depth, fmt.Sprintf("%s: no such field", walked)}
			}
			depth++
			n = v
		}
		for _, sel := range st.selectors {
			if n.Kind != yaml.SequenceNode {
				return target{}, &lookupError{depth, fmt.Sprintf("%s is %s, not a list, so %s cannot select from it", describePath(walked), kindName(n), sel)}
			}
			flow = flow || n.Style&yaml.FlowStyle != 0
			v, err := selectElement(n, sel)
			if err != nil {
				return target{}, &lookupError{depth, fmt.Sprintf("%s: %v", walked, err)}
			}
			walked += sel.String()
			depth++
			n = v
		}
		if n.Kind == yaml.AliasNode && depth < countSteps(steps) {
			return target{}, &lookupError{depth, fmt.Sprintf("%s is the alias *%s; edit the anchor instead", walked, n.Value)}
		}
	}
	switch n.Kind {
	case yaml.ScalarNode, yaml.AliasNode:
		if n.Kind == yaml.AliasNode && n.Alias != nil && n.Alias.Kind != yaml.ScalarNode {
			return target{}, &lookupError{depth, fmt.Sprintf("%s is an alias of %s, want a string", walked, kindName(n.Alias))}
		}
		return target{node: n, flow: flow || n.Style&yaml.FlowStyle != 0}, nil
	}
	return target{}, &lookupError{depth, fmt.Sprintf("%s is %s, want a string", walked, kindName(n))}
}

func countSteps(steps []step) int {
	n := 0
	for _, st := range steps {
		if st.key != "" {
			n++
		}
		n += len(st.selectors)
	}
	return n
}

// mapValue returns the key and value nodes of key in m, or nil when absent.
// A key that appears twice is an error: which one a consumer reads depends on
// the parser.
func mapValue(m *yaml.Node, key string) (k, v *yaml.Node, err error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			if k != nil {
				return nil, nil, fmt.Errorf("field %q appears twice (lines %d and %d)", key, k.Line, m.Content[i].Line)
			}
			k, v = m.Content[i], m.Content[i+1]
		}
	}
	return k, v, nil
}

func selectElement(seq *yaml.Node, sel selector) (*yaml.Node, error) {
	if sel.index >= 0 {
		if sel.index >= len(seq.Content) {
			return nil, fmt.Errorf("no element %s: the list has %d", sel, len(seq.Content))
		}
		return seq.Content[sel.index], nil
	}
	var found *yaml.Node
	for _, el := range seq.Content {
		if el.Kind != yaml.MappingNode {
			continue
		}
		_, v, err := mapValue(el, sel.field)
		if err != nil {
			return nil, err
		}
		if v == nil || v.Kind != yaml.ScalarNode || v.Value != sel.value {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("two elements match %s (lines %d and %d)", sel, found.Line, el.Line)
		}
		found = el
	}
	if found == nil {
		return nil, fmt.Errorf("no element matches %s", sel)
	}
	return found, nil
}

func joinPath(walked, key string) string {
	if walked == "" {
		return key
	}
	return walked + "." + key
}

func describePath(walked string) string {
	if walked == "" {
		return "the document"
	}
	return walked
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.ShortTag() == yaml.NodeTagString {
			return "a string"
		}
		return "a " + strings.TrimPrefix(n.ShortTag(), "!!")
	}
	return "empty"
}
