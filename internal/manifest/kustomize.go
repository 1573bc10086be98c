package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// kustomizationNames are the file names kustomize looks for, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Keys of an images: entry, as kustomize names them.
const (
	keyName    = "name"
	keyNewName = "newName"
	keyNewTag  = "newTag"
	keyDigest  = "digest"
)

// pair is a key and its value, to add or set.
type pair struct{ key, value string }

// kustomize sets the images: entry named e.ImageName (or the image's
// repository) the way kustomize reads it: digest without newTag when pinning
// by digest, newTag without digest otherwise, and newName only when the
// repository differs from the name.
func (c *checkout) kustomize(dir string, e KustomizeEdit, img Image, opts Options) (Result, error) {
	name := e.ImageName
	if name == "" {
		name = img.Repository
	}
	var found []string
	for _, n := range kustomizationNames {
		_, err := c.base.Lstat(n)
		switch {
		case err == nil:
			found = append(found, n)
		case !errors.Is(err, fs.ErrNotExist):
			return Result{}, fmt.Errorf("look for %s in %s: %w", n, dir, err)
		}
	}
	switch len(found) {
	case 0:
		return Result{}, invalid(fieldPath, "%s has no %s", dir, strings.Join(kustomizationNames, ", "))
	case 1:
	default:
		return Result{}, invalid(fieldPath, "%s has more than one kustomization file: %s", dir, strings.Join(found, ", "))
	}
	f, err := c.read(fieldPath, path.Join(dir, found[0]))
	if err != nil {
		return Result{}, err
	}
	src, err := parseSource(f.data, f.name, fieldPath)
	if err != nil {
		return Result{}, err
	}
	if err := editKustomization(src, name, img, opts); err != nil {
		return Result{File: f.name}, err
	}
	return c.finish(f, src)
}

func editKustomization(src *source, name string, img Image, opts Options) error {
	// kustomize reads the first document only; refuse to guess when there
	// are more.
	var root *yaml.Node
	for _, doc := range src.docs {
		if isEmptyDocument(doc) {
			continue
		}
		if root != nil {
			return invalid(fieldPath, "%s has more than one YAML document", src.file)
		}
		root = doc.Content[0]
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return invalid(fieldPath, "%s is not a kustomization: want a map", src.file)
	}
	_, images, err := mapValue(root, "images")
	if err != nil {
		return invalid(fieldPath, "%s: %v", src.file, err)
	}
	want := []pair{{keyName, name}}
	if img.Repository != name {
		want = append(want, pair{keyNewName, img.Repository})
	}
	if img.byDigest(opts.PinDigest) {
		want = append(want, pair{keyDigest, img.Digest})
	} else {
		want = append(want, pair{keyNewTag, img.Tag})
	}
	if images == nil {
		if opts.NoAddEntry {
			return invalid(fieldKustomizeName, "%s has no images: entry named %q, and adding one is disabled", src.file, name)
		}
		return src.addImages(root, want)
	}
	if images.Kind != yaml.SequenceNode {
		return invalid(fieldPath, "%s: line %d: images: is %s, want a list", src.file, images.Line, kindName(images))
	}
	var matches []*yaml.Node
	for i, el := range images.Content {
		if el.Kind != yaml.MappingNode {
			return invalid(fieldPath, "%s: line %d: images[%d] is %s, want a map", src.file, el.Line, i, kindName(el))
		}
		_, v, err := mapValue(el, keyName)
		if err != nil {
			return invalid(fieldPath, "%s: line %d: images[%d]: %v", src.file, el.Line, i, err)
		}
		if v != nil && v.Kind == yaml.ScalarNode && v.Value == name {
			matches = append(matches, el)
		}
	}
	switch {
	case len(matches) > 1:
		return invalid(fieldKustomizeName, "%s: images: has %d entries named %q (lines %d and %d); kustomize would apply only one", src.file, len(matches), name, matches[0].Line, matches[1].Line)
	case len(matches) == 1:
		return src.updateEntry(matches[0], name, want[1:], images.Style&yaml.FlowStyle != 0)
	case opts.NoAddEntry:
		return invalid(fieldKustomizeName, "%s has no images: entry named %q, and adding one is disabled", src.file, name)
	}
	return src.addEntry(images, want)
}

func isEmptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == yaml.NodeTagNull && n.Value == "" && len(n.Content) == 0
}

// updateEntry makes an existing images: entry hold exactly the wanted keys
// among newName, newTag and digest.
func (s *source) updateEntry(el *yaml.Node, name string, want []pair, flow bool) error {
	flow = flow || el.Style&yaml.FlowStyle != 0
	present := map[string]int{} // key -> index of the key node in el.Content
	for _, key := range []string{keyNewName, keyNewTag, keyDigest} {
		k, v, err := mapValue(el, key)
		if err != nil {
			return invalid(fieldPath, "%s: line %d: %v", s.file, el.Line, err)
		}
		if k == nil {
			continue
		}
		if v.Kind != yaml.ScalarNode && v.Kind != yaml.AliasNode {
			return invalid(fieldPath, "%s: line %d: %s is %s, want a string", s.file, v.Line, key, kindName(v))
		}
		for i := 0; i < len(el.Content); i += 2 {
			if el.Content[i] == k {
				present[key] = i
			}
		}
	}
	wanted := map[string]bool{}
	var add []pair
	for _, p := range want {
		wanted[p.key] = true
		if i, ok := present[p.key]; ok {
			if err := s.setIfDifferent(el.Content[i+1], p.value, flow); err != nil {
				return err
			}
			continue
		}
		// Switching between newTag and digest renames the key in place: one
		// changed line instead of a removed and an added one.
		other := keyNewTag
		if p.key == keyNewTag {
			other = keyDigest
		}
		if i, ok := present[other]; ok && p.key != keyNewName {
			if err := s.setScalar(el.Content[i], p.key, flow); err != nil {
				return err
			}
			if err := s.setScalar(el.Content[i+1], p.value, flow); err != nil {
				return err
			}
			delete(present, other)
			present[p.key] = i
			continue
		}
		add = append(add, p)
	}
	if len(add) > 0 {
		if err := s.addPairs(el, add, flow); err != nil {
			return err
		}
	}
	var drop []int
	for key, i := range present {
		// A newName equal to the name is a no-op for kustomize: leave it.
		if !wanted[key] && !(key == keyNewName && el.Content[i+1].Value == name) {
			drop = append(drop, i)
		}
	}
	// Remove from the end so that earlier indexes stay valid.
	for len(drop) > 0 {
		last := 0
		for j := range drop {
			if drop[j] > drop[last] {
				last = j
			}
		}
		if err := s.removePair(el, drop[last], flow); err != nil {
			return err
		}
		drop = append(drop[:last], drop[last+1:]...)
	}
	return nil
}

func (s *source) setIfDifferent(n *yaml.Node, value string, flow bool) error {
	if n.Kind == yaml.ScalarNode && n.Value == value && n.ShortTag() == yaml.NodeTagString {
		return nil
	}
	return s.setScalar(n, value, flow)
}

// removePair removes the key at index i of mapping m and its value.
func (s *source) removePair(m *yaml.Node, i int, flow bool) error {
	k, v := m.Content[i], m.Content[i+1]
	keyStart, err := s.offset(k)
	if err != nil {
		return err
	}
	valueEnd, err := s.nodeEnd(v, flow)
	if err != nil {
		return err
	}
	var start, end int
	switch {
	case flow && i > 0:
		// From the end of the previous value: ", newTag: x".
		start, err = s.nodeEnd(m.Content[i-1], flow)
		end = valueEnd
	case i+2 < len(m.Content) && (flow || strings.TrimLeft(string(s.text[s.lineStart(keyStart):keyStart]), " ") != ""):
		// First key, up to the next one: "{newTag: x, name: a}" or
		// "- newTag: x\n  name: a".
		start = keyStart
		end, err = s.offset(m.Content[i+2])
	case !flow && strings.TrimLeft(string(s.text[s.lineStart(keyStart):keyStart]), " ") == "":
		// A whole line of its own.
		start, end = s.lineStart(keyStart), s.lineEnd(valueEnd)
	default:
		return s.layout(k, "cannot remove the only key of a map")
	}
	if err != nil {
		return err
	}
	s.edits = append(s.edits, splice{start: start, end: end})
	m.Content = append(m.Content[:i], m.Content[i+2:]...)
	return nil
}

// addPairs adds keys at the end of mapping m, in its style.
func (s *source) addPairs(m *yaml.Node, pairs []pair, flow bool) error {
	texts := make([]string, len(pairs))
	for i, p := range pairs {
		v, err := renderScalar(p.value, nil)
		if err != nil {
			return s.layout(m, err.Error())
		}
		texts[i] = p.key + ": " + v
	}
	if err := s.addText(m, texts, flow); err != nil {
		return err
	}
	for _, p := range pairs {
		m.Content = append(m.Content, strNode(p.key), strNode(p.value))
	}
	return nil
}

// addText adds entries, already rendered, at the end of collection n: one
// line each at the indentation of the last one in block style, or comma
// separated before the closing bracket in flow style.
func (s *source) addText(n *yaml.Node, entries []string, flow bool) error {
	flow = flow || n.Style&yaml.FlowStyle != 0
	if len(n.Content) == 0 {
		if !flow {
			return s.layout(n, "empty block collection")
		}
		open, err := s.offset(n)
		if err != nil {
			return err
		}
		open = s.skipProperties(open)
		if open >= len(s.text) || !strings.ContainsRune("[{", rune(s.text[open])) {
			return s.layout(n, "opening bracket not found")
		}
		s.edits = append(s.edits, splice{start: open + 1, end: open + 1, repl: strings.Join(entries, ", ")})
		return nil
	}
	last := n.Content[len(n.Content)-1]
	end, err := s.nodeEnd(last, flow)
	if err != nil {
		return err
	}
	if flow {
		s.edits = append(s.edits, splice{start: end, end: end, repl: ", " + strings.Join(entries, ", ")})
		return nil
	}
	first := last
	if n.Kind == yaml.MappingNode {
		first = n.Content[len(n.Content)-2]
	}
	off, err := s.offset(first)
	if err != nil {
		return err
	}
	indent := s.indentAt(off)
	if n.Kind == yaml.SequenceNode {
		// The item starts after "- "; the new one needs its own dash.
		m := itemPrefix.FindStringSubmatch(string(s.text[s.lineStart(off):off]))
		if m == nil {
			return s.layout(first, "list item does not start with \"- \" on its line")
		}
		indent = m[1]
		for i, e := range entries {
			entries[i] = "-" + m[2] + strings.ReplaceAll(e, "\n", "\n "+m[2])
		}
	}
	lines := make([]string, 0, len(entries))
	for _, e := range entries {
		for _, l := range strings.Split(e, "\n") {
			lines = append(lines, indent+l)
		}
	}
	s.insertLines(end, lines)
	return nil
}

// itemPrefix matches what precedes a block list item on its line.
var itemPrefix = regexp.MustCompile(`^( *)-( +)$`)

// addEntry appends a new images: entry, in the style of the last entry.
func (s *source) addEntry(images *yaml.Node, pairs []pair) error {
	flow := images.Style&yaml.FlowStyle != 0
	if len(images.Content) > 0 && images.Content[len(images.Content)-1].Style&yaml.FlowStyle != 0 {
		flow = true
	}
	text, err := renderEntry(pairs, flow)
	if err != nil {
		return s.layout(images, err.Error())
	}
	if images.Style&yaml.FlowStyle != 0 || len(images.Content) == 0 {
		err = s.addText(images, []string{text}, true)
	} else {
		err = s.addText(images, []string{text}, false)
	}
	if err != nil {
		return err
	}
	images.Content = append(images.Content, entryNode(pairs))
	return nil
}

// addImages adds an images: key with one entry to the kustomization.
func (s *source) addImages(root *yaml.Node, pairs []pair) error {
	if root.Style&yaml.FlowStyle != 0 || len(root.Content) == 0 {
		text, err := renderEntry(pairs, true)
		if err != nil {
			return s.layout(root, err.Error())
		}
		if err := s.addText(root, []string{"images: [" + text + "]"}, true); err != nil {
			return err
		}
	} else {
		text, err := renderEntry(pairs, false)
		if err != nil {
			return s.layout(root, err.Error())
		}
		indent, gap := s.sequenceStyle(root)
		item := indent + "-" + gap + strings.ReplaceAll(text, "\n", "\n"+indent+" "+gap)
		if err := s.addText(root, []string{"images:\n" + item}, false); err != nil {
			return err
		}
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq, Content: []*yaml.Node{entryNode(pairs)}}
	root.Content = append(root.Content, strNode("images"), seq)
	return nil
}

// sequenceStyle returns how the file indents block lists under a key: the
// blanks before the dash, relative to the key, and after it. Both
// "resources:\n- a" and "resources:\n  - a" are common.
func (s *source) sequenceStyle(m *yaml.Node) (indent, gap string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind != yaml.SequenceNode || v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0 {
			continue
		}
		koff, err1 := s.offset(k)
		ioff, err2 := s.offset(v.Content[0])
		if err1 != nil || err2 != nil {
			continue
		}
		match := itemPrefix.FindStringSubmatch(string(s.text[s.lineStart(ioff):ioff]))
		if keyCol := len(s.indentAt(koff)); match != nil && len(match[1]) >= keyCol {
			return match[1][keyCol:], match[2]
		}
	}
	return "", " "
}

// renderEntry writes an images: entry: "name: a\nnewTag: b" for block style
// (lines joined with \n, indented by the caller) or "{name: a, newTag: b}".
func renderEntry(pairs []pair, flow bool) (string, error) {
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		v, err := renderScalar(p.value, nil)
		if err != nil {
			return "", err
		}
		parts[i] = p.key + ": " + v
	}
	if flow {
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return strings.Join(parts, "\n"), nil
}

func strNode(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: v}
}

func entryNode(pairs []pair) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap}
	for _, p := range pairs {
		m.Content = append(m.Content, strNode(p.key), strNode(p.value))
	}
	return m
}
