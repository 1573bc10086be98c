package install_test

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/baton-dev/baton/internal/testenv"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, COPY, ...
	args string
}

// parseDockerfile reads instructions the way the Dockerfile frontend does
// for the subset Baton uses: comments and blank lines skipped, a trailing
// backslash continues the instruction on the next line.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out     []instruction
		pending string
		start   int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if pending == "" {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			pending += cont + " "
			continue
		}
		pending += line
		cmd, args, _ := strings.Cut(pending, " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " ")})
		pending = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if pending != "" {
		t.Fatalf("%s ends inside a continued instruction", path)
	}
	return out
}

// TestDockerfile checks the image recipe that no test here can build: a
// static binary in distroless as a numeric non-root user, built only from
// paths that exist.
func TestDockerfile(t *testing.T) {
	root := testenv.RepoRoot()
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))

	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	builder, final := stages[0], stages[len(stages)-1]

	from := strings.Fields(builder[0].args)
	if !slices.ContainsFunc(from, func(f string) bool { return strings.HasPrefix(f, "golang:1.26") }) {
		t.Errorf("the build stage starts FROM %q, want golang:1.26", builder[0].args)
	}
	builderName := ""
	if i := slices.Index(from, "AS"); i >= 0 && i+1 < len(from) {
		builderName = from[i+1]
	} else if i := slices.Index(from, "as"); i >= 0 && i+1 < len(from) {
		builderName = from[i+1]
	}
	if builderName == "" {
		t.Errorf("the build stage has no name (FROM ... AS builder)")
	}
	var cgoOff bool
	for _, in := range builder {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			cgoOff = strings.Contains(in.args, "CGO_ENABLED=0")
		}
		if in.cmd == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0") {
			cgoOff = true
		}
	}
	if !cgoOff {
		t.Errorf("the manager is not built with CGO_ENABLED=0, so it would not run on distroless/static")
	}

	base := strings.Fields(final[0].args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") || !strings.HasSuffix(base, ":nonroot") {
		t.Errorf("the final stage starts FROM %q, want gcr.io/distroless/static...:nonroot", base)
	}
	var user, entrypoint string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "RUN":
			t.Errorf("line %d: RUN in the final stage; distroless has no shell", in.line)
		case "COPY":
			if !strings.Contains(in.args, "--from="+builderName) {
				t.Errorf("line %d: the final stage copies %q from the build context, not from the build stage", in.line, in.args)
			}
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid != "65532" {
		t.Errorf("USER is %q, want the numeric non-root 65532 (so runAsNonRoot can check it)", user)
	}
	if entrypoint != `["/manager"]` {
		t.Errorf("ENTRYPOINT is %s, want [\"/manager\"]", entrypoint)
	}

	// Every path copied from the build context exists in the repository.
	for _, in := range builder {
		if in.cmd != "COPY" {
			continue
		}
		fields := slices.DeleteFunc(strings.Fields(in.args), func(f string) bool { return strings.HasPrefix(f, "--") })
		if len(fields) < 2 {
			t.Errorf("line %d: COPY %s has no destination", in.line, in.args)
			continue
		}
		for _, src := range fields[:len(fields)-1] {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("line %d: COPY %s: %v", in.line, src, err)
			}
		}
	}
}

// TestDockerignoreKeepsSources checks that .dockerignore, which starts by
// excluding everything, lets through each directory the Dockerfile copies.
func TestDockerignoreKeepsSources(t *testing.T) {
	root := testenv.RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "!"); ok {
			kept[strings.TrimSuffix(p, "/")] = true
		}
	}
	for _, in := range parseDockerfile(t, filepath.Join(root, "Dockerfile")) {
		if in.cmd != "COPY" || strings.Contains(in.args, "--from=") {
			continue
		}
		src := strings.TrimSuffix(strings.Fields(in.args)[0], "/")
		if !kept[src] {
			t.Errorf(".dockerignore excludes %s, which the Dockerfile copies", src)
		}
	}
}
