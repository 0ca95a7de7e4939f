package cond

import (
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// activation is where one Eval's conditions find their variables. The
// costly ones (json, body, cert) are worked out when a condition first
// reads them, and once however many conditions do; a probe pays nothing
// for a variable none of its conditions reads.
type activation struct {
	set *Set
	in  *Input

	json, body, cert             any
	haveJSON, haveBody, haveCert bool
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case VarStatus:
		if a.in.Status == nil {
			return types.NullValue, true
		}
		return a.in.Status, true
	case VarLatency:
		return a.in.Latency.Milliseconds(), true
	case VarHeaders:
		if a.in.Headers == nil {
			return map[string]string{}, true
		}
		return a.in.Headers, true
	case VarBody:
		if !a.haveBody {
			a.body, a.haveBody = validUTF8(a.in.Body), true
		}
		return a.body, true
	case VarJSON:
		return a.jsonValue(), true
	case VarCert:
		if !a.haveCert {
			a.cert, a.haveCert = a.in.Cert.Map(a.in.Now), true
		}
		return a.cert, true
	case VarAnswers:
		if a.in.Answers == nil {
			return []string{}, true
		}
		return a.in.Answers, true
	default:
		return nil, false
	}
}

// Parent implements interpreter.Activation: there is none.
func (*activation) Parent() interpreter.Activation { return nil } //nolint:ireturn // the interface's own signature

// jsonValue is the json variable: the body parsed as far as the
// conditions read it, or null when it is not JSON (or no condition reads
// json, and the prober kept no body).
func (a *activation) jsonValue() any {
	if !a.haveJSON {
		a.json, a.haveJSON = types.NullValue, true
		if a.set.json != nil {
			a.json = decodeJSON(a.in.Body, a.set.json)
		}
	}
	return a.json
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
