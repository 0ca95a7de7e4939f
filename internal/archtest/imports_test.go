package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/vigil-dev/vigil"

// A rule forbids the packages it covers to depend on some import paths.
type rule struct {
	// why is said with every violation.
	why string
	// covers selects the packages the rule is about, by path within the
	// module.
	covers func(pkg string) bool
	// forbids says whether a dependency, by full import path, breaks the
	// rule for pkg.
	forbids func(pkg, dep string) bool
	// direct limits the rule to the packages' own imports; otherwise every
	// dependency counts, however indirect.
	direct bool
	// code limits the rule to the packages' code; otherwise their test
	// binaries, test files and fixtures included, count too.
	code bool
}

// rules is Vigil's layering. A rule that has to bend for a new package
// should be argued about here, not worked around.
var rules = []rule{
	{
		why:     "the domain package does no I/O and knows nothing of Vigil's other packages",
		covers:  is("internal/check"),
		forbids: func(_, dep string) bool { return vigil(dep) },
	},
	{
		why:    "the shared vocabulary is a leaf: it may lean on the domain, nothing else of Vigil",
		covers: is("internal/registry"),
		forbids: func(_, dep string) bool {
			return vigil(dep) && dep != module+"/internal/check"
		},
	},
	{
		why: "only the wiring (internal/app), the store's own tests and the tools and system tests " +
			"(hack/, test/) may know the PostgreSQL store; consumers declare interfaces in internal/registry's types",
		covers: func(pkg string) bool {
			return pkg != "internal/app" && pkg != "internal/store" && !under(pkg, "hack") && !under(pkg, "test")
		},
		forbids: imports("internal/store"),
		direct:  true,
	},
	{
		why:     "the REST API reaches the broker and the workers only through what internal/app hands it",
		covers:  is("internal/api"),
		forbids: imports("internal/queue", "internal/worker", "internal/store"),
	},
	{
		why:     "workers get the store behind worker.Recorder; their tests use fakes",
		covers:  is("internal/worker"),
		forbids: imports("internal/store"),
	},
	{
		why:     "probes touch only their targets, never the database",
		covers:  is("internal/probe"),
		forbids: imports("internal/store"),
	},
	{
		why: "the operator talks to the registry through controllers.Registry and to the broker through " +
			"OperatorOptions' functions; internal/app wires the adapters in",
		covers:  under1("controllers"),
		forbids: imports("internal/store", "internal/queue"),
	},
	{
		why:    "the CRD types are an API: clients that import them must not pull in Vigil's infrastructure",
		covers: under1("api/v1alpha1"),
		forbids: func(_, dep string) bool {
			return imports("internal/store", "internal/queue")("", dep) ||
				library(dep, "github.com/jackc/pgx", "github.com/rabbitmq/amqp091-go", "github.com/gorilla/websocket")
		},
	},
	{
		why: "pgx, amqp and gorilla types never leave their adapter package (internal/store, internal/queue, " +
			"internal/broadcast) or the fixtures built on them",
		covers: func(string) bool { return true },
		forbids: func(pkg, dep string) bool {
			switch {
			case library(dep, "github.com/jackc/pgx"):
				return pkg != "internal/store" && pkg != "internal/pgtest" && !under(pkg, "hack") && !under(pkg, "test")
			case library(dep, "github.com/rabbitmq/amqp091-go"):
				return pkg != "internal/queue" && pkg != "internal/amqptest" && !under(pkg, "hack") && !under(pkg, "test")
			case library(dep, "github.com/gorilla/websocket"):
				return pkg != "internal/broadcast"
			}
			return false
		},
		direct: true,
		code:   true,
	},
}

// TestImportRules checks every package of the module against rules.
func TestImportRules(t *testing.T) {
	graph := load(t)
	require.NotEmpty(t, graph.code, "go list found no packages")
	for _, v := range graph.violations(rules) {
		t.Error(v)
	}
}

// The checker itself, on a made-up graph: a rule broken two imports away
// is reported with the chain that breaks it, so the message says which
// import to remove.
func TestViolationsNameTheImport(t *testing.T) {
	g := &graph{
		code: map[string][]string{
			"internal/api":    {"fmt", module + "/internal/helper"},
			"internal/helper": {module + "/internal/queue"},
			"internal/queue":  {"github.com/rabbitmq/amqp091-go"},
			"internal/check":  {"time"},
		},
		tests: map[string][]string{
			"internal/check": {module + "/internal/store"},
		},
	}
	got := g.violations(rules)
	require.Equal(t, []string{
		"internal/api (code) must not depend on " + module + "/internal/queue: " +
			"internal/api -> internal/helper -> internal/queue; the REST API reaches the broker and the workers only through what internal/app hands it",
		"internal/check (tests) must not depend on " + module + "/internal/store: " +
			"internal/check -> internal/store; only the wiring (internal/app), the store's own tests and the tools and system tests (hack/, test/) may know the PostgreSQL store; consumers declare interfaces in internal/registry's types",
		"internal/check (tests) must not depend on " + module + "/internal/store: " +
			"internal/check -> internal/store; the domain package does no I/O and knows nothing of Vigil's other packages",
	}, got)
}

// graph is the module's import graph by package path within the module.
type graph struct {
	// code holds each package's imports.
	code map[string][]string
	// tests holds the imports of each package's test files (in-package and
	// external) that its code does not import.
	tests map[string][]string
}

// load reads the graph with one `go list`. -test adds each package's test
// variants, whose Imports are what its test files import.
func load(t *testing.T) *graph {
	t.Helper()
	// go test puts its own Go first in PATH.
	cmd := exec.Command("go", "list", "-e", "-test", "-json=ImportPath,ForTest,Imports,Error", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())

	g := &graph{code: map[string][]string{}, tests: map[string][]string{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string   `json:"ImportPath"`
			ForTest    string   `json:"ForTest"`
			Imports    []string `json:"Imports"`
			Error      *struct {
				Err string `json:"Err"`
			} `json:"Error"`
		}
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Nil(t, p.Error, "go list: %s: %v", p.ImportPath, p.Error)
		path, _, _ := strings.Cut(p.ImportPath, " ")
		imports := make([]string, len(p.Imports))
		for i, imp := range p.Imports {
			imports[i], _, _ = strings.Cut(imp, " ") // "x [y.test]" is x, compiled for y's tests
		}
		switch {
		case strings.HasSuffix(path, ".test"):
			// The generated main of a test binary.
		case p.ForTest == "":
			g.code[rel(path)] = imports
		default:
			pkg := rel(p.ForTest)
			g.tests[pkg] = append(g.tests[pkg], imports...)
		}
	}
	// A test variant imports what its package's code does too; keep only
	// what the tests add, so a break in the code is reported once.
	for pkg, imps := range g.tests {
		slices.Sort(imps)
		imps = slices.Compact(imps)
		g.tests[pkg] = slices.DeleteFunc(imps, func(imp string) bool { return slices.Contains(g.code[pkg], imp) })
	}
	return g
}

// violations lists every break of rules, sorted.
func (g *graph) violations(rules []rule) []string {
	var out []string
	pkgs := make([]string, 0, len(g.code))
	for pkg := range g.code {
		pkgs = append(pkgs, pkg)
	}
	slices.Sort(pkgs)
	for _, pkg := range pkgs {
		for _, r := range rules {
			if !r.covers(pkg) {
				continue
			}
			out = append(out, g.check(pkg, "code", g.code[pkg], r)...)
			if !r.code {
				out = append(out, g.check(pkg, "tests", g.tests[pkg], r)...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// check walks from pkg's roots (its imports, or its tests' imports)
// through the module's packages and reports each forbidden dependency once,
// with the shortest chain of imports that reaches it.
func (g *graph) check(pkg, what string, roots []string, r rule) []string {
	type step struct {
		path string
		via  []string
	}
	var (
		out   []string
		seen  = map[string]bool{module + "/" + pkg: true} // an external test imports its package
		queue []step
	)
	for _, imp := range roots {
		queue = append(queue, step{imp, []string{pkg}})
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if seen[s.path] {
			continue
		}
		seen[s.path] = true
		chain := append(slices.Clone(s.via), rel(s.path))
		if r.forbids(pkg, s.path) {
			out = append(out, pkg+" ("+what+") must not depend on "+s.path+": "+strings.Join(chain, " -> ")+"; "+r.why)
			continue
		}
		if r.direct || !vigil(s.path) {
			// Libraries' own imports are not followed: a rule about one
			// names the library itself.
			continue
		}
		for _, imp := range g.code[rel(s.path)] {
			queue = append(queue, step{imp, chain})
		}
	}
	return out
}

// vigil reports whether path is a package of this module.
func vigil(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

// rel is path within the module; other paths stay as they are.
func rel(path string) string {
	if r, ok := strings.CutPrefix(path, module+"/"); ok {
		return r
	}
	return path
}

// under reports whether pkg is dir or below it.
func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

func is(want string) func(string) bool { return func(pkg string) bool { return pkg == want } }

func under1(dir string) func(string) bool { return func(pkg string) bool { return under(pkg, dir) } }

// imports forbids the module's packages at the given paths.
func imports(paths ...string) func(pkg, dep string) bool {
	return func(_, dep string) bool { return vigil(dep) && slices.Contains(paths, rel(dep)) }
}

// library reports whether dep is one of the modules mods or a package in it.
func library(dep string, mods ...string) bool {
	for _, m := range mods {
		if dep == m || strings.HasPrefix(dep, m+"/") {
			return true
		}
	}
	return false
}
