package cond

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/parser"

	"github.com/vigil-dev/vigil/internal/check"
)

// CostLimit bounds the work of evaluating one condition, in CEL's cost
// units (roughly one per operation, and one per few bytes a string
// function scans). A contains() over a full 64 KiB body costs a few
// thousand; the limit leaves room for a handful of those while a
// comprehension over a large JSON document is stopped long before it costs
// a probe noticeable CPU.
const CostLimit = 1_000_000

// maxValueText caps each value quoted in a failure message; the whole
// message is cut to check.MaxErrorBytes anyway.
const maxValueText = 120

// env is the one CEL environment every condition compiles in. It is built
// once, on first use, and never changed afterwards, so it is safe to share
// between goroutines.
var env = sync.OnceValues(newEnv)

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(VarStatus, cel.DynType),
		cel.Variable(VarLatency, cel.IntType),
		cel.Variable(VarHeaders, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(VarBody, cel.StringType),
		cel.Variable(VarJSON, cel.DynType),
		cel.Variable(VarCert, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarAnswers, cel.ListType(cel.StringType)),
		// JSON numbers are doubles; `json.count > 5` must compare them
		// with an int literal the way a user expects.
		cel.CrossTypeNumericComparisons(true),
	)
}

// Needs tells a probe which costly inputs the conditions read, so that it
// reads and keeps a body only when one is used.
type Needs struct {
	// Any is true when there is a condition at all: a probe need not
	// collect headers and the like for none.
	Any  bool
	Body bool // body or json
	JSON bool
	Cert bool
}

// Set is a compiled list of conditions. It is immutable and safe for
// concurrent use.
type Set struct {
	conds []compiled
	needs Needs
	// json is what the conditions read of the json variable; nil when
	// none reads it.
	json *jsonPlan
}

type compiled struct {
	expr     string
	prg      cel.Program
	usesBody bool
	usesCert bool
	usesJSON bool
	// operands are the sub-expressions whose values a failure message
	// quotes ("json.status = \"DEGRADED\"").
	operands []operand
}

type operand struct {
	text string
	prg  cel.Program
}

// Compile type-checks exprs and prepares them for evaluation. The error is
// a *check.FieldError naming conditions[i], so a registry can return it as
// it is.
func Compile(exprs []string) (*Set, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	s := &Set{conds: make([]compiled, 0, len(exprs))}
	plan := newJSONPlan()
	for i, x := range exprs {
		c, err := compileOne(e, x, plan)
		if err != nil {
			return nil, &check.FieldError{Field: fmt.Sprintf("conditions[%d]", i), Message: err.Error()}
		}
		s.conds = append(s.conds, c)
		s.needs.JSON = s.needs.JSON || c.usesJSON
		s.needs.Cert = s.needs.Cert || c.usesCert
	}
	s.needs.Any = len(s.conds) > 0
	if s.needs.JSON {
		s.json = plan
	}
	s.needs.Body = s.needs.JSON || slices.ContainsFunc(s.conds, func(c compiled) bool { return c.usesBody })
	return s, nil
}

// compileOne compiles one condition and adds what it reads of json to
// plan: the operands it quotes in a failure are evaluated against the same
// value, so their uses are added too.
func compileOne(e *cel.Env, x string, plan *jsonPlan) (compiled, error) {
	a, iss := e.Compile(x)
	if iss.Err() != nil {
		return compiled{}, errors.New(oneLine(iss.Err().Error()))
	}
	if !a.OutputType().IsExactType(cel.BoolType) && !a.OutputType().IsExactType(cel.DynType) {
		return compiled{}, fmt.Errorf("must be a boolean expression, not %s", a.OutputType())
	}
	prg, err := e.Program(a, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return compiled{}, errors.New(oneLine(err.Error()))
	}
	c := compiled{expr: x, prg: prg, operands: operandsOf(e, a, plan)}
	plan.addUses(a.NativeRep())
	for _, r := range a.NativeRep().ReferenceMap() {
		switch r.Name {
		case VarJSON:
			c.usesJSON = true
		case VarCert:
			c.usesCert = true
		case VarBody:
			c.usesBody = true
		}
	}
	return c, nil
}

// comparisons are the calls whose operands a failure message quotes.
var comparisons = map[string]bool{
	"_==_": true, "_!=_": true, "_<_": true, "_<=_": true, "_>_": true, "_>=_": true, "@in": true,
}

// operandsOf prepares the operands worth quoting when a's condition fails:
// those of a top-level comparison or member call, or of each one in a
// top-level chain of &&. Literals are left out: their value is in the text.
func operandsOf(e *cel.Env, a *cel.Ast, plan *jsonPlan) []operand {
	info := a.NativeRep().SourceInfo()
	var out []operand
	var walk func(x ast.Expr)
	walk = func(x ast.Expr) {
		if x.Kind() != ast.CallKind || len(out) >= 4 {
			return
		}
		call := x.AsCall()
		if call.FunctionName() == "_&&_" {
			for _, arg := range call.Args() {
				walk(arg)
			}
			return
		}
		args := call.Args()
		if call.IsMemberFunction() {
			args = append([]ast.Expr{call.Target()}, args...)
		} else if !comparisons[call.FunctionName()] {
			return
		}
		for _, arg := range args {
			if op, ok := compileOperand(e, arg, info, plan); ok && len(out) < 4 {
				out = append(out, op)
			}
		}
	}
	walk(a.NativeRep().Expr())
	return out
}

func compileOperand(e *cel.Env, x ast.Expr, info *ast.SourceInfo, plan *jsonPlan) (operand, bool) {
	if isLiteral(x) {
		return operand{}, false
	}
	text, err := parser.Unparse(x, info)
	if err != nil {
		return operand{}, false
	}
	a, iss := e.Compile(text)
	if iss.Err() != nil {
		return operand{}, false
	}
	prg, err := e.Program(a, cel.CostLimit(CostLimit))
	if err != nil {
		return operand{}, false
	}
	plan.addUses(a.NativeRep())
	return operand{text: text, prg: prg}, true
}

// isLiteral reports whether x is a literal or a list of literals, whose
// value its text already shows.
func isLiteral(x ast.Expr) bool {
	switch x.Kind() {
	case ast.LiteralKind:
		return true
	case ast.ListKind:
		return !slices.ContainsFunc(x.AsList().Elements(), func(e ast.Expr) bool { return !isLiteral(e) })
	default:
		// Names, calls, selections and the rest have a value worth showing.
		return false
	}
}

// Len is the number of conditions in s.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.conds)
}

// Needs says which inputs s reads.
func (s *Set) Needs() Needs {
	if s == nil {
		return Needs{}
	}
	return s.needs
}

// Eval evaluates the conditions in order against in and returns "" when
// all hold, or why the first that does not failed: the expression and the
// values it saw, cleaned and capped for a result's error.
func (s *Set) Eval(in *Input) (failure string) {
	if s == nil || len(s.conds) == 0 {
		return ""
	}
	defer func() {
		// cel-go does not panic on any input we know of; if it does, it
		// costs this result, not the worker.
		if r := recover(); r != nil {
			failure = check.CleanError(fmt.Sprintf("condition evaluation failed: %v", r))
		}
	}()
	vars := &activation{set: s, in: in}
	for _, c := range s.conds {
		out, _, err := c.prg.Eval(vars)
		switch {
		case err != nil:
			return check.CleanError(c.evalError(err, in, vars))
		case out.Type() != types.BoolType:
			return check.CleanError(fmt.Sprintf("%s: evaluated to %s, not a boolean", c.expr, describeVal(out)))
		case out != types.True:
			return check.CleanError(c.explain(vars))
		}
	}
	return ""
}

// evalError turns an evaluation error into words a user can act on: most
// come from a field the response lacks.
func (c *compiled) evalError(err error, in *Input, vars *activation) string {
	switch {
	case c.usesJSON && vars.jsonValue() == types.NullValue:
		return c.expr + ": the body is not JSON"
	case c.usesCert && in.Cert == nil:
		return c.expr + ": no certificate (the target did not use TLS)"
	}
	return c.expr + ": " + oneLine(err.Error())
}

// explain says why c evaluated to false: the expression and the values of
// its operands.
func (c *compiled) explain(vars *activation) string {
	parts := make([]string, 0, len(c.operands))
	for _, op := range c.operands {
		v, _, err := op.prg.Eval(vars)
		if err != nil {
			parts = append(parts, op.text+": "+oneLine(err.Error()))
			continue
		}
		parts = append(parts, op.text+" = "+describeVal(v))
	}
	if len(parts) == 0 {
		return c.expr
	}
	return c.expr + " (" + strings.Join(parts, ", ") + ")"
}

// describeVal writes v compactly: strings quoted, long values cut.
func describeVal(v ref.Val) string {
	var s string
	switch v.Type() {
	case types.StringType:
		s = fmt.Sprintf("%q", v.Value())
	case types.NullType:
		s = "null"
	default:
		if b, err := json.Marshal(v.Value()); err == nil {
			s = string(b)
		} else {
			s = fmt.Sprint(v.Value())
		}
	}
	if len(s) > maxValueText {
		s = strings.ToValidUTF8(s[:maxValueText], "") + "…"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
