package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// kyaml re-indents sequences and rewrites flow style when it serializes a
// tree, which would show up as unrelated lines in the reviewer's diff. So the
// editors use kyaml (yaml.v3) only to parse and locate nodes, then splice new
// bytes into the original text at the node's position, and finally parse the
// result again and compare it with the intended tree. Lines that are not
// edited are byte-for-byte what they were.

// source is one YAML file: its text, its documents, and where lines start.
type source struct {
	file  string // path shown in errors, relative to the checkout
	field string // the Environment field that names the file
	text  []byte
	lines []int // byte offset of the start of each line
	eol   string
	docs  []*yaml.Node
	edits []splice
}

// splice replaces text[start:end] with repl.
type splice struct {
	start, end int
	repl       string
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func parseSource(text []byte, file, field string) (*source, error) {
	src := &source{file: file, field: field, text: text, eol: "\n"}
	if bytes.Contains(text, []byte("\r\n")) {
		src.eol = "\r\n"
	}
	src.lines = lineStarts(text)
	docs, err := decodeAll(text)
	if err != nil {
		return nil, invalid(field, "%s is not valid YAML: %s", file, describeYAMLError(text, err))
	}
	src.docs = docs
	return src, nil
}

// decodeAll parses every document. yaml.v3 reports malformed input as
// errors, but a parser of untrusted input must not take the controller down
// if it ever panics, so a panic becomes an error too.
func decodeAll(text []byte) (docs []*yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			docs, err = nil, fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, err
		}
		docs = append(docs, &doc)
	}
}

// describeYAMLError gives the parser's message a line number when it has
// none, as for invalid UTF-8 or control characters.
func describeYAMLError(text []byte, err error) string {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return "line " + m[1] + ": " + msg[len(m[0]):]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if off := firstBadByte(text); off >= 0 {
		return fmt.Sprintf("line %d: %s", bytes.Count(text[:off], []byte("\n"))+1, msg)
	}
	return msg
}

// firstBadByte returns the offset of the first byte that YAML does not allow
// in a stream, or -1.
func firstBadByte(text []byte) int {
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return i
		}
		i += size
	}
	return -1
}

// lineStarts splits lines the way yaml.v3 counts them, so that its Line
// numbers index this slice: CRLF, CR, LF, NEL, LS and PS all end a line.
func lineStarts(text []byte) []int {
	starts := []int{0}
	for i := 0; i < len(text); {
		switch {
		case text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n':
			i += 2
		case text[i] == '\r' || text[i] == '\n':
			i++
		case bytes.HasPrefix(text[i:], []byte("\u0085")), bytes.HasPrefix(text[i:], []byte("\u2028")), bytes.HasPrefix(text[i:], []byte("\u2029")):
			i += 3
		default:
			i++
			continue
		}
		starts = append(starts, i)
	}
	return starts
}

// offset turns a node's 1-based line and column (counted in characters) into
// a byte offset.
func (s *source) offset(n *yaml.Node) (int, error) {
	if n.Line < 1 || n.Line > len(s.lines) || n.Column < 1 {
		return 0, s.layout(n, "position is outside the file")
	}
	off := s.lines[n.Line-1]
	for c := 1; c < n.Column; c++ {
		if off >= len(s.text) {
			return 0, s.layout(n, "position is outside the file")
		}
		_, size := utf8.DecodeRune(s.text[off:])
		off += size
	}
	return off, nil
}

// layout is the error for text this package cannot edit without touching
// other lines. It is the user's to fix, like any other config problem.
func (s *source) layout(n *yaml.Node, reason string) error {
	return invalid(s.field, "%s: line %d: cannot edit in place: %s", s.file, n.Line, reason)
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isBreak(c byte) bool { return c == '\n' || c == '\r' }

func isFlowIndicator(c byte) bool { return strings.IndexByte(",[]{}", c) >= 0 }

// skipProperties moves past an anchor and a tag, and the space after them.
func (s *source) skipProperties(off int) int {
	for off < len(s.text) && (s.text[off] == '&' || s.text[off] == '!') {
		for off < len(s.text) && !isBlank(s.text[off]) && !isBreak(s.text[off]) {
			off++
		}
		off = s.skipSpace(off)
	}
	return off
}

// skipSpace moves past blanks, line breaks and comments.
func (s *source) skipSpace(off int) int {
	for off < len(s.text) {
		switch c := s.text[off]; {
		case isBlank(c) || isBreak(c):
			off++
		case c == '#':
			for off < len(s.text) && !isBreak(s.text[off]) {
				off++
			}
		default:
			return off
		}
	}
	return off
}

// valueSpan returns the bytes of a scalar or alias node's value, after its
// anchor and tag. flow says whether the node is inside [ ] or { }.
func (s *source) valueSpan(n *yaml.Node, flow bool) (start, end int, err error) {
	off, err := s.offset(n)
	if err != nil {
		return 0, 0, err
	}
	if n.Kind == yaml.AliasNode {
		if off >= len(s.text) || s.text[off] != '*' {
			return 0, 0, s.layout(n, "alias not found")
		}
		end = off + 1
		for end < len(s.text) && !isBlank(s.text[end]) && !isBreak(s.text[end]) && !isFlowIndicator(s.text[end]) {
			end++
		}
		return off, end, nil
	}
	if n.Kind != yaml.ScalarNode {
		return 0, 0, s.layout(n, "not a scalar")
	}
	if n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 {
		off = s.skipProperties(off)
	}
	if off > len(s.text) {
		return 0, 0, s.layout(n, "value not found")
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return s.quotedSpan(n, off, '"')
	case n.Style&yaml.SingleQuotedStyle != 0:
		return s.quotedSpan(n, off, '\'')
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, s.layout(n, "the value is a block scalar (| or >)")
	}
	if n.Value == "" {
		// An empty value (key: with nothing after it) is positioned where the
		// value would start.
		return off, off, nil
	}
	end = off
	for end < len(s.text) && !isBreak(s.text[end]) {
		c := s.text[end]
		if flow && isFlowIndicator(c) || c == '#' && end > off && isBlank(s.text[end-1]) || c == ':' && s.endsPlainAt(end+1, flow) {
			break
		}
		end++
	}
	for end > off && isBlank(s.text[end-1]) {
		end--
	}
	if string(s.text[off:end]) != n.Value {
		return 0, 0, s.layout(n, "the value spans several lines")
	}
	return off, end, nil
}

// endsPlainAt says whether a ':' just before off ends a plain scalar, as
// the ": " of a mapping key does.
func (s *source) endsPlainAt(off int, flow bool) bool {
	return off >= len(s.text) || isBlank(s.text[off]) || isBreak(s.text[off]) || flow && isFlowIndicator(s.text[off])
}

func (s *source) quotedSpan(n *yaml.Node, off int, quote byte) (int, int, error) {
	if off >= len(s.text) || s.text[off] != quote {
		return 0, 0, s.layout(n, "quote not found")
	}
	for i := off + 1; i < len(s.text); i++ {
		switch {
		case quote == '"' && s.text[i] == '\\':
			i++
		case s.text[i] == quote && quote == '\'' && i+1 < len(s.text) && s.text[i+1] == '\'':
			i++
		case s.text[i] == quote:
			return off, i + 1, nil
		}
	}
	return 0, 0, s.layout(n, "closing quote not found")
}

// nodeEnd returns the offset just after the last character of n.
func (s *source) nodeEnd(n *yaml.Node, flow bool) (int, error) {
	switch n.Kind {
	case yaml.ScalarNode, yaml.AliasNode:
		_, end, err := s.valueSpan(n, flow)
		return end, err
	case yaml.MappingNode, yaml.SequenceNode:
		if n.Style&yaml.FlowStyle == 0 {
			if len(n.Content) == 0 {
				return 0, s.layout(n, "empty block collection")
			}
			return s.nodeEnd(n.Content[len(n.Content)-1], false)
		}
		closing := byte('}')
		if n.Kind == yaml.SequenceNode {
			closing = ']'
		}
		var off int
		if len(n.Content) == 0 {
			open, err := s.offset(n)
			if err != nil {
				return 0, err
			}
			off = s.skipProperties(open) + 1
		} else {
			end, err := s.nodeEnd(n.Content[len(n.Content)-1], true)
			if err != nil {
				return 0, err
			}
			off = end
		}
		for off = s.skipSpace(off); off < len(s.text) && s.text[off] == ','; off = s.skipSpace(off + 1) {
		}
		if off >= len(s.text) || s.text[off] != closing {
			return 0, s.layout(n, "end of flow collection not found")
		}
		return off + 1, nil
	}
	return 0, s.layout(n, "unexpected node")
}

// lineEnd returns the offset of the start of the line after off, or the end
// of the text.
func (s *source) lineEnd(off int) int {
	i := sort.SearchInts(s.lines, off+1)
	if i < len(s.lines) {
		return s.lines[i]
	}
	return len(s.text)
}

// lineStart returns the offset of the start of the line holding off.
func (s *source) lineStart(off int) int {
	return s.lines[sort.SearchInts(s.lines, off+1)-1]
}

// indentAt returns the blanks that make text start at the column of off.
func (s *source) indentAt(off int) string {
	return strings.Repeat(" ", utf8.RuneCount(s.text[s.lineStart(off):off]))
}

// insertLines queues whole lines to be inserted after the line holding off.
func (s *source) insertLines(off int, lines []string) {
	at := s.lineEnd(off)
	text := strings.Join(lines, s.eol) + s.eol
	if at == len(s.text) && at > 0 && !isBreak(s.text[at-1]) {
		text = s.eol + strings.TrimSuffix(text, s.eol)
	}
	s.edits = append(s.edits, splice{start: at, end: at, repl: text})
}

// setScalar queues replacing the value of n (a scalar or an alias) and
// updates the tree to match.
func (s *source) setScalar(n *yaml.Node, value string, flow bool) error {
	start, end, err := s.valueSpan(n, flow)
	if err != nil {
		return err
	}
	text, err := renderScalar(value, n)
	if err != nil {
		return s.layout(n, err.Error())
	}
	if start == end && start > 0 && s.text[start-1] == ':' {
		text = " " + text
	}
	s.edits = append(s.edits, splice{start: start, end: end, repl: text})
	n.Kind, n.Alias, n.Tag, n.Value, n.Style = yaml.ScalarNode, nil, yaml.NodeTagString, value, 0
	return nil
}

// renderScalar writes value as a YAML string, in the quoting style of the
// value it replaces when there is one. A plain value that YAML 1.1 would read
// as a number, boolean or null (Kubernetes, Helm and kustomize all read YAML
// 1.1) is double-quoted, so that a tag such as 1.20 stays a string.
func renderScalar(value string, old *yaml.Node) (string, error) {
	node := &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: value}
	if old != nil && old.Kind == yaml.ScalarNode {
		node.Style = old.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)
	}
	if node.Style == 0 && yaml.IsValueNonString(value) {
		node.Style = yaml.DoubleQuotedStyle
	}
	out, err := yaml.Marshal(node)
	if err != nil {
		return "", err
	}
	text := strings.TrimSuffix(string(out), "\n")
	if strings.ContainsAny(text, "\r\n") {
		return "", fmt.Errorf("value %s does not fit on one line", strconv.Quote(value))
	}
	return text, nil
}

// result applies the queued splices and checks that the new text parses to
// exactly the intended tree: the same documents, with only the edited values
// changed. A mismatch means a layout this package does not understand, and
// nothing is written.
func (s *source) result() ([]byte, error) {
	sort.SliceStable(s.edits, func(i, j int) bool { return s.edits[i].start > s.edits[j].start })
	out := append([]byte(nil), s.text...)
	prev := len(out) + 1
	for _, e := range s.edits {
		if e.end > prev || e.start > e.end {
			return nil, invalid(s.field, "%s: cannot edit in place: overlapping edits", s.file)
		}
		out = append(out[:e.start], append([]byte(e.repl), out[e.end:]...)...)
		prev = e.start
	}
	docs, err := decodeAll(out)
	if err != nil {
		return nil, invalid(s.field, "%s: cannot edit in place: the edited file would not parse: %v", s.file, err)
	}
	if len(docs) != len(s.docs) {
		return nil, invalid(s.field, "%s: cannot edit in place: the edited file would have %d documents, not %d", s.file, len(docs), len(s.docs))
	}
	for i := range docs {
		if !sameTree(s.docs[i], docs[i]) {
			return nil, invalid(s.field, "%s: cannot edit in place: document %d would not read back as intended", s.file, i+1)
		}
	}
	return out, nil
}

// sameTree compares what two trees mean, ignoring style, comments and
// positions.
func sameTree(a, b *yaml.Node) bool {
	if a.Kind != b.Kind || a.Anchor != b.Anchor || len(a.Content) != len(b.Content) {
		return false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		if a.Value != b.Value || a.ShortTag() != b.ShortTag() {
			return false
		}
	case yaml.AliasNode:
		return a.Value == b.Value
	}
	for i := range a.Content {
		if !sameTree(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}
