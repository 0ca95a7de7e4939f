package chart

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	tparse "text/template/parse"
)

// The dependency analysis behind TestChartEveryCombination: which values a
// template's output can depend on, found by parsing the chart's templates.
//
// A value reaches a template only through the root context's Values field:
// a chain naming "Values" (.Values.a.b, $.Values.a, .root.Values.a, or a
// chain through a variable) reads the subtree at the path after it, and
// nothing outside that subtree, whatever is then done with the value
// (passed in a dict to an include, ranged over, merged into a copy). So the
// values a template reads are the paths of every such chain in it and in
// every define it reaches through `template` and `include`, transitively.
// Everything the analysis cannot follow makes it give up towards "depends
// on everything" rather than guess:
//   - a bare .Values, or the string "Values" anywhere (index . "Values"):
//     every value;
//   - tpl: its string may name any value, so every value;
//   - an include whose name is not a literal: every template whose name
//     ends with one of the literals in the name's expression (print
//     .Template.BasePath "/secret.yaml"), or every template if none match.
//
// One thing it cannot see is a template changing the values for the ones
// rendered after it; mutating functions (set, merge, ...) are therefore
// allowed only on a value the template made itself (mutations), and the
// sampled full-product renderings of TestChartEveryCombination would show
// any dependency the analysis missed.

// chartTemplates parses every file in dir (the chart's templates) and
// returns the trees by name: files as "templates/<file>", defines by their
// own names.
func chartTemplates(dir string) (map[string]*tparse.Tree, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files["templates/"+e.Name()] = string(raw)
	}
	return parseFiles(files)
}

// parseFiles parses template files, by name, into their trees.
func parseFiles(files map[string]string) (map[string]*tparse.Tree, error) {
	trees := map[string]*tparse.Tree{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		set, err := parseTemplate(name, files[name])
		if err != nil {
			return nil, err
		}
		for n, tree := range set {
			if _, dup := trees[n]; dup {
				return nil, fmt.Errorf("%s: template %q defined twice", name, n)
			}
			trees[n] = tree
		}
	}
	return trees, nil
}

// parseTemplate parses one file with helm's delimiters; functions are not
// checked, since the analysis needs only their names.
func parseTemplate(name, text string) (map[string]*tparse.Tree, error) {
	set := map[string]*tparse.Tree{}
	tree := tparse.New(name)
	tree.Mode = tparse.SkipFuncCheck | tparse.ParseComments
	if _, err := tree.Parse(text, "{{", "}}", set); err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	return set, nil
}

// reads is what one tree reads directly: value paths ("" is every value),
// the templates it includes by name, and whether it includes one whose
// name is computed (with the literals of that name's expression).
type reads struct {
	paths    map[string]bool
	includes map[string]bool
	dynamic  [][]string
	// conditions are the value paths some if, with, and, or, not, ternary
	// or default decides on: the chart's toggles (see toggleCandidates).
	conditions map[string]bool
	// aliases are the variables that hold a subtree of the values.
	aliases map[string]string
	// mutations are calls of set, merge and the like on a value the
	// template did not make itself; the analysis cannot vouch for those.
	mutations []string
}

func newReads() *reads {
	return &reads{paths: map[string]bool{}, includes: map[string]bool{}, conditions: map[string]bool{}}
}

var mutators = map[string]bool{
	"set": true, "unset": true, "merge": true, "mergeOverwrite": true,
	"mustMerge": true, "mustMergeOverwrite": true,
}

// fresh are the functions whose result is a new object (or, for the
// mutators, their first argument, which is checked where they are called).
var fresh = map[string]bool{
	"dict": true, "list": true, "deepCopy": true, "mustDeepCopy": true,
	"fromYaml": true, "fromJson": true, "append": true, "concat": true,
	"set": true, "unset": true, "merge": true, "mergeOverwrite": true,
	"mustMerge": true, "mustMergeOverwrite": true, "mustAppend": true,
}

var deciders = map[string]bool{"and": true, "or": true, "not": true, "ternary": true, "default": true, "eq": true, "ne": true, "empty": true}

func analyzeTree(tree *tparse.Tree) *reads {
	r := newReads()
	r.aliases = valueAliases(tree)
	// every assignment of a variable, to tell a made object from a value
	freshVars := map[string]bool{}
	walkNodes(tree.Root, func(n tparse.Node) bool {
		p, ok := n.(*tparse.PipeNode)
		if !ok || len(p.Decl) == 0 {
			return true
		}
		isFresh := pipeIsFresh(p)
		for _, v := range p.Decl {
			name := v.Ident[0]
			if prev, seen := freshVars[name]; seen {
				freshVars[name] = prev && isFresh
			} else {
				freshVars[name] = isFresh
			}
		}
		return true
	})

	walkNodes(tree.Root, func(n tparse.Node) bool {
		switch n := n.(type) {
		case *tparse.PipeNode:
			// An alias's own declaration reads nothing: its uses do.
			if len(n.Decl) == 1 {
				if _, ok := r.aliases[n.Decl[0].Ident[0]]; ok {
					return false
				}
			}
		case *tparse.FieldNode:
			r.chain(n.Ident, r.paths)
		case *tparse.VariableNode:
			r.chain(n.Ident, r.paths)
		case *tparse.ChainNode:
			// (expr).a.b: expr is walked on its own (a field of a value it
			// reads whole is already read); (.root).Values.a is a read here.
			r.chain(n.Field, r.paths)
		case *tparse.StringNode:
			if strings.Contains(n.Text, "Values") {
				r.paths[""] = true
			}
		case *tparse.TemplateNode:
			r.includes[n.Name] = true
		case *tparse.IfNode:
			r.decide(n.Pipe)
		case *tparse.WithNode:
			r.decide(n.Pipe)
		case *tparse.CommandNode:
			fn, ok := n.Args[0].(*tparse.IdentifierNode)
			if !ok {
				return true
			}
			switch {
			case fn.Ident == "include" && len(n.Args) > 1:
				if s, ok := n.Args[1].(*tparse.StringNode); ok {
					r.includes[s.Text] = true
				} else {
					var lits []string
					walkNodes(n.Args[1], func(n tparse.Node) bool {
						if s, ok := n.(*tparse.StringNode); ok && s.Text != "" {
							lits = append(lits, s.Text)
						}
						return true
					})
					r.dynamic = append(r.dynamic, lits)
				}
			case fn.Ident == "tpl":
				r.paths[""] = true
			case deciders[fn.Ident]:
				for _, a := range n.Args[1:] {
					r.decide(a)
				}
			case mutators[fn.Ident] && len(n.Args) > 1:
				if !argIsFresh(n.Args[1], freshVars) {
					r.mutations = append(r.mutations, fmt.Sprintf("%s: %s", tree.ParseName, n))
				}
			}
		}
		return true
	})
	return r
}

// valueAliases finds the variables that only ever hold one subtree of the
// values, each declared or assigned in an action of its own with nothing
// but a chain through Values ({{ $m := .Values.metrics }}): their uses
// ($m.podMonitor.enabled) read the path below that subtree, not all of it.
// A variable assigned anything else, or declared by if, with or range, is
// no alias; what flowed into it was read whole where it was assigned.
func valueAliases(tree *tparse.Tree) map[string]string {
	alias := map[string]string{}
	poisoned := map[string]bool{}
	walkNodes(tree.Root, func(n tparse.Node) bool {
		var pipe *tparse.PipeNode
		switch n := n.(type) {
		case *tparse.ActionNode:
			pipe = n.Pipe
		case *tparse.IfNode:
			poison(n.Pipe, poisoned)
		case *tparse.WithNode:
			poison(n.Pipe, poisoned)
		case *tparse.RangeNode:
			poison(n.Pipe, poisoned)
		}
		if pipe == nil || len(pipe.Decl) == 0 {
			return true
		}
		path, ok := soleValueChain(pipe)
		for _, v := range pipe.Decl {
			name := v.Ident[0]
			prev, seen := alias[name]
			if !ok || len(pipe.Decl) != 1 || (seen && prev != path) {
				poisoned[name] = true
			}
			alias[name] = path
		}
		return true
	})
	for name := range poisoned {
		delete(alias, name)
	}
	return alias
}

func poison(p *tparse.PipeNode, poisoned map[string]bool) {
	if p == nil {
		return
	}
	for _, v := range p.Decl {
		poisoned[v.Ident[0]] = true
	}
}

// soleValueChain is the value path of a pipeline that is nothing but a
// chain through Values.
func soleValueChain(p *tparse.PipeNode) (string, bool) {
	if len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return "", false
	}
	var ident []string
	switch a := p.Cmds[0].Args[0].(type) {
	case *tparse.FieldNode:
		ident = a.Ident
	case *tparse.VariableNode:
		ident = a.Ident
	default:
		return "", false
	}
	i := slices.Index(ident, "Values")
	if i < 0 {
		return "", false
	}
	return strings.Join(ident[i+1:], "."), true
}

// chain records in into the value path a chain of field names reads: the
// path after Values, or after an alias's subtree.
func (r *reads) chain(ident []string, into map[string]bool) {
	if i := slices.Index(ident, "Values"); i >= 0 {
		into[strings.Join(ident[i+1:], ".")] = true
		return
	}
	if strings.HasPrefix(ident[0], "$") {
		if base, ok := r.aliases[ident[0]]; ok {
			into[joinPath(append([]string{base}, ident[1:]...))] = true
		}
	}
}

func joinPath(parts []string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// decide records the value paths of what a condition reads.
func (r *reads) decide(n tparse.Node) {
	walkNodes(n, func(n tparse.Node) bool {
		switch n := n.(type) {
		case *tparse.FieldNode:
			r.chain(n.Ident, r.conditions)
		case *tparse.VariableNode:
			r.chain(n.Ident, r.conditions)
		}
		return true
	})
}

func pipeIsFresh(p *tparse.PipeNode) bool {
	if len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	fn, ok := last.Args[0].(*tparse.IdentifierNode)
	if ok && fn.Ident == "include" {
		return true // a string
	}
	return ok && fresh[fn.Ident]
}

func argIsFresh(n tparse.Node, freshVars map[string]bool) bool {
	switch n := n.(type) {
	case *tparse.VariableNode:
		return len(n.Ident) == 1 && freshVars[n.Ident[0]]
	case *tparse.PipeNode:
		return pipeIsFresh(n)
	}
	return false
}

// walkNodes calls visit on n and, unless visit returns false, on every
// node under it.
func walkNodes(n tparse.Node, visit func(tparse.Node) bool) {
	if n == nil || isNilNode(n) {
		return
	}
	if !visit(n) {
		return
	}
	switch n := n.(type) {
	case *tparse.ListNode:
		for _, c := range n.Nodes {
			walkNodes(c, visit)
		}
	case *tparse.ActionNode:
		walkNodes(n.Pipe, visit)
	case *tparse.PipeNode:
		for _, v := range n.Decl {
			walkNodes(v, visit)
		}
		for _, c := range n.Cmds {
			walkNodes(c, visit)
		}
	case *tparse.CommandNode:
		for _, a := range n.Args {
			walkNodes(a, visit)
		}
	case *tparse.ChainNode:
		walkNodes(n.Node, visit)
	case *tparse.IfNode:
		walkBranch(&n.BranchNode, visit)
	case *tparse.RangeNode:
		walkBranch(&n.BranchNode, visit)
	case *tparse.WithNode:
		walkBranch(&n.BranchNode, visit)
	case *tparse.TemplateNode:
		walkNodes(n.Pipe, visit)
	}
}

// isNilNode catches typed nil pointers (a template without a pipeline).
func isNilNode(n tparse.Node) bool {
	switch n := n.(type) {
	case *tparse.ListNode:
		return n == nil
	case *tparse.PipeNode:
		return n == nil
	}
	return false
}

func walkBranch(b *tparse.BranchNode, visit func(tparse.Node) bool) {
	walkNodes(b.Pipe, visit)
	walkNodes(b.List, visit)
	walkNodes(b.ElseList, visit)
}

// dependencies is the analysis of a whole chart: for each template file,
// the value paths its output can depend on.
type dependencies struct {
	paths      map[string][]string // file -> sorted value paths ("" = every value)
	conditions map[string]bool     // every value path a condition anywhere decides on
	mutations  []string
}

func analyzeChart(trees map[string]*tparse.Tree) dependencies {
	direct := map[string]*reads{}
	for name, tree := range trees {
		direct[name] = analyzeTree(tree)
	}
	names := slices.Sorted(maps.Keys(trees))
	deps := dependencies{paths: map[string][]string{}, conditions: map[string]bool{}}
	for _, name := range names {
		r := direct[name]
		maps.Copy(deps.conditions, r.conditions)
		deps.mutations = append(deps.mutations, r.mutations...)
		if !strings.HasPrefix(name, "templates/") || strings.HasPrefix(filepath.Base(name), "_") || name == "templates/NOTES.txt" {
			continue // a define, a file of defines only, or the notes helm template does not render
		}
		// the closure of what the file reaches
		seen := map[string]bool{}
		queue := []string{name}
		paths := map[string]bool{}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			if seen[n] {
				continue
			}
			seen[n] = true
			cur, ok := direct[n]
			if !ok {
				// helm would fail on an unknown template; be conservative
				paths[""] = true
				continue
			}
			maps.Copy(paths, cur.paths)
			for inc := range cur.includes {
				queue = append(queue, inc)
			}
			for _, lits := range cur.dynamic {
				var matched []string
				for _, other := range names {
					if slices.ContainsFunc(lits, func(l string) bool { return strings.HasSuffix(other, l) }) {
						matched = append(matched, other)
					}
				}
				if len(matched) == 0 {
					matched = names // a name it cannot narrow: every template
				}
				queue = append(queue, matched...)
			}
		}
		deps.paths[name] = slices.Sorted(maps.Keys(paths))
	}
	return deps
}

// reads reports whether a template that reads paths can see the value at
// key: a path at or above the key reads it whole, a path below it reads a
// part of it.
func pathsRead(paths []string, key string) bool {
	for _, p := range paths {
		if p == "" || p == key || strings.HasPrefix(key, p+".") || strings.HasPrefix(p, key+".") {
			return true
		}
	}
	return false
}

// settingKeys lists the dotted keys a values tree sets.
func settingKeys(prefix string, v map[string]any) []string {
	var keys []string
	for k, x := range v {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if m, ok := x.(map[string]any); ok && len(m) > 0 {
			keys = append(keys, settingKeys(path, m)...)
			continue
		}
		keys = append(keys, path)
	}
	slices.Sort(keys)
	return keys
}

// dimensionKeys is every key some setting of d sets.
func dimensionKeys(d dimension) []string {
	set := map[string]bool{}
	for _, s := range d.settings {
		for _, k := range settingKeys("", s.values) {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// templateDims maps each template file to the indexes of the dimensions
// whose settings it can read.
func templateDims(deps dependencies, dims []dimension) map[string][]int {
	out := map[string][]int{}
	for file, paths := range deps.paths {
		out[file] = []int{}
		for i, d := range dims {
			for _, k := range dimensionKeys(d) {
				if pathsRead(paths, k) {
					out[file] = append(out[file], i)
					break
				}
			}
		}
	}
	return out
}
