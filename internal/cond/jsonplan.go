package cond

import (
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// jsonPlan is the part of the json variable a Set's conditions can read,
// worked out once when they are compiled. Most conditions read a few
// fields by constant paths (json.status, json.components["db"].status,
// json.items[0]); decoding only those is what keeps a json condition from
// costing a probe more CPU than the probe itself (docs/benchmarks.md).
//
// The plan is a tree of the constant paths. A node marked whole is a value
// the conditions use as such (compared, passed to size() or a macro,
// indexed by something computed); it is decoded in full, exactly as the
// full decode would. Above those nodes, objects keep only the members the
// plan names and arrays only the elements up to the highest index it
// names, so every lookup a condition can make meets the same value, or the
// same missing key, as in the fully decoded document.
type jsonPlan struct {
	whole  bool
	fields map[string]*jsonPlan
	index  map[int64]*jsonPlan
	// maxIndex is the highest index in index, or -1.
	maxIndex int64
}

func newJSONPlan() *jsonPlan {
	return &jsonPlan{maxIndex: -1}
}

// pathStep is one constant step of a path: a member name, or an array
// index when isIndex.
type pathStep struct {
	field   string
	index   int64
	isIndex bool
}

// addUses adds every use of json in a to the plan. Uses it does not
// recognise as constant paths make the node they start from whole, so the
// plan errs on the side of decoding more, never less.
func (p *jsonPlan) addUses(a *ast.AST) {
	refs := a.ReferenceMap()
	var visit func(e ast.Expr)
	visit = func(e ast.Expr) {
		if path, ok := jsonPath(e, refs); ok {
			p.add(path)
			return
		}
		kids, known := children(e)
		if !known {
			p.whole = true
			return
		}
		for _, child := range kids {
			visit(child)
		}
	}
	visit(a.Expr())
}

// add marks the node at path whole.
func (p *jsonPlan) add(path []pathStep) {
	n := p
	for _, s := range path {
		if n.whole {
			return
		}
		n = n.child(s)
	}
	n.whole = true
}

func (p *jsonPlan) child(s pathStep) *jsonPlan {
	if s.isIndex {
		if p.index == nil {
			p.index = map[int64]*jsonPlan{}
		}
		c, ok := p.index[s.index]
		if !ok {
			c = newJSONPlan()
			p.index[s.index] = c
			p.maxIndex = max(p.maxIndex, s.index)
		}
		return c
	}
	if p.fields == nil {
		p.fields = map[string]*jsonPlan{}
	}
	c, ok := p.fields[s.field]
	if !ok {
		c = newJSONPlan()
		p.fields[s.field] = c
	}
	return c
}

// jsonPath returns the constant path e selects from json: json itself,
// or a chain of field selections (has() tests included) and indexes by a
// string or int literal on top of it.
func jsonPath(e ast.Expr, refs map[int64]*ast.ReferenceInfo) ([]pathStep, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return nil, isJSONIdent(e, refs)
	case ast.SelectKind:
		sel := e.AsSelect()
		path, ok := jsonPath(sel.Operand(), refs)
		return append(path, pathStep{field: sel.FieldName()}), ok
	case ast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != "_[_]" || call.IsMemberFunction() || len(call.Args()) != 2 {
			return nil, false
		}
		step, ok := constIndex(call.Args()[1])
		if !ok {
			return nil, false
		}
		path, ok := jsonPath(call.Args()[0], refs)
		return append(path, step), ok
	default:
		return nil, false
	}
}

// isJSONIdent reports whether e names the json variable. A comprehension
// variable that happens to be called json counts too: taking it for the
// variable only adds a path, which costs a little decoding, never a
// wrong value.
func isJSONIdent(e ast.Expr, refs map[int64]*ast.ReferenceInfo) bool {
	if r, ok := refs[e.ID()]; ok && r.Name == VarJSON {
		return true
	}
	return strings.TrimPrefix(e.AsIdent(), ".") == VarJSON
}

// constIndex is the step an index literal takes: a string selects a
// member, an int an element. Other literals (uint, double) are left to
// the full decode of the value they index.
func constIndex(e ast.Expr) (pathStep, bool) {
	if e.Kind() != ast.LiteralKind {
		return pathStep{}, false
	}
	switch v := e.AsLiteral().(type) {
	case types.String:
		return pathStep{field: string(v)}, true
	case types.Int:
		return pathStep{index: int64(v), isIndex: true}, true
	default:
		return pathStep{}, false
	}
}

// children lists e's sub-expressions; false for an expression kind this
// code does not know, whose uses of json it cannot tell.
func children(e ast.Expr) ([]ast.Expr, bool) {
	switch e.Kind() {
	case ast.IdentKind, ast.LiteralKind:
		return nil, true
	case ast.SelectKind:
		return []ast.Expr{e.AsSelect().Operand()}, true
	case ast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() {
			return append([]ast.Expr{call.Target()}, call.Args()...), true
		}
		return call.Args(), true
	case ast.ListKind:
		return e.AsList().Elements(), true
	case ast.MapKind:
		var out []ast.Expr
		for _, en := range e.AsMap().Entries() {
			out = append(out, en.AsMapEntry().Key(), en.AsMapEntry().Value())
		}
		return out, true
	case ast.StructKind:
		var out []ast.Expr
		for _, f := range e.AsStruct().Fields() {
			out = append(out, f.AsStructField().Value())
		}
		return out, true
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		return []ast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()}, true
	default:
		return nil, false
	}
}
