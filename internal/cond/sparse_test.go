package cond

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/stretchr/testify/require"
)

// describePlan writes a plan compactly: "*" for a whole value, {a b{c}}
// for members, [0 2{a}] for elements.
func describePlan(p *jsonPlan) string {
	if p == nil {
		return "none"
	}
	if p.whole {
		return "*"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p.fields)) {
		parts = append(parts, strconv.Quote(k)+describeChild(p.fields[k]))
	}
	for _, i := range slices.Sorted(maps.Keys(p.index)) {
		parts = append(parts, "["+strconv.FormatInt(i, 10)+"]"+describeChild(p.index[i]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func describeChild(p *jsonPlan) string {
	if p.whole {
		return ""
	}
	return describePlan(p)
}

func TestJSONPlan(t *testing.T) {
	for _, tt := range []struct {
		conds []string
		want  string
	}{
		{[]string{`status == 200`}, "none"},
		{[]string{`json.status == "UP"`}, `{"status"}`},
		{[]string{`json["status"] == "UP"`, `latency_ms < 100`}, `{"status"}`},
		{[]string{`json.components.db.status == "UP"`, `json.components["disk"].free > 1`}, `{"components"{"db"{"status"} "disk"{"free"}}}`},
		{[]string{`json.items[0].status == "UP"`, `json.items[2] == 1`}, `{"items"{[0]{"status"} [2]}}`},
		{[]string{`has(json.status)`}, `{"status"}`},
		{[]string{`size(json.checks) == 3`, `json.checks[0] == 1`}, `{"checks"}`},
		{[]string{`json.items.exists(i, i.status == "DOWN")`}, `{"items"}`},
		{[]string{`json.items[0u] == 1`}, `{"items"}`},
		{[]string{`json.items[0.0] == 1`}, `{"items"}`},
		{[]string{`json[string(status)] == 1`}, "*"},
		{[]string{`json.a[body] == 1`}, `{"a"}`},
		{[]string{`json == null`}, "*"},
		{[]string{`json.status == "UP"`, `"status" in json`}, "*"},
		{[]string{`json.status.startsWith("U")`}, `{"status"}`},
		{[]string{`.json.status == "UP"`}, `{"status"}`},
		// A comprehension variable named json is taken for the variable:
		// one more path, never a missing one.
		{[]string{`json.items.all(json, json.ok == true)`}, `{"items" "ok"}`},
		{[]string{`json.items.all(json, json == 1)`}, "*"},
	} {
		set, err := Compile(tt.conds)
		require.NoError(t, err)
		require.Equal(t, tt.want, describePlan(set.json), "%q", tt.conds)
	}
}

// project is what decodeSparse must return for a document whose full
// decode is v: the members and elements plan names, and no more.
func project(v any, plan *jsonPlan) any {
	if plan.whole {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, c := range plan.fields {
			if e, ok := x[k]; ok {
				m[k] = project(e, c)
			}
		}
		return m
	case []any:
		l := []any{}
		for i := int64(0); i <= plan.maxIndex && i < int64(len(x)); i++ {
			var e any
			if c := plan.index[i]; c != nil {
				e = project(x[i], c)
			}
			l = append(l, e)
		}
		return l
	default:
		return v
	}
}

// checkSparse holds decodeSparse to its contract on one body: what it
// accepts, encoding/json accepts too, and it returns the projection of
// encoding/json's value; a valid document no deeper than it follows it
// accepts, or the fast path would be dead weight.
func checkSparse(t *testing.T, body string, plan *jsonPlan) {
	t.Helper()
	var full any
	fullErr := json.Unmarshal([]byte(body), &full)
	got, ok := decodeSparse(body, plan)
	if ok {
		require.NoError(t, fullErr, "sparse accepted what encoding/json refuses: %q", body)
		require.Equal(t, project(full, plan), got, "body %q, plan %s", body, describePlan(plan))
	} else if fullErr == nil && len(body) < maxSparseDepth {
		t.Fatalf("sparse refused a valid document: %q (plan %s)", body, describePlan(plan))
	}
}

// Bodies that exercise the decoder's edges: the table and the fuzz seeds.
var edgeBodies = []string{
	healthUpBody, `{"status":"DEGRADED","components":{"db":{"status":"DOWN"}}}`,
	`{"status":"UP","status":"DOWN"}`, `{"status":{"x":1},"status":"UP"}`, `{"status":"UP","status":{"x":1}}`,
	`{"st\u0061tus":"UP"}`, `{"status":"U\u0050"}`, `{"status":"\ud800"}`, `{"status":"\ud83d\ude00 ok"}`,
	"{\"status\":\"\xff\"}", "{\"st\xffatus\":\"UP\",\"status\":1}", "{\"status\":\"caf\xc3\xa9\"}", "{\"caf\xc3\xa9\":1}",
	`{"status":"a\"b\\c\/d\b\f\n\r\t"}`,
	`{"status":1e400}`, `{"other":1e400,"status":"UP"}`, `{"other":[-1E+400],"status":"UP"}`, `{"n":1e-400}`,
	`{"n":-0}`, `{"n":1E+2}`, `{"n":1e2}`, `{"n":0.5e-3}`, `{"n":12345678901234567890123}`, `{"n":100}`,
	`{"n":` + strings.Repeat("9", 400) + `}`, `{"n":0.` + strings.Repeat("0", 400) + `1}`,
	`[1,2,3]`, `[{"status":"UP"},{"status":"DOWN"}]`, `"UP"`, `42`, `null`, `true`, `false`, ``, `   `, `{}`, `[]`,
	`{"status":"UP"`, `{"status":"UP"}x`, `{"status":"UP"},`, `{'status':'UP'}`, `{"status":UP}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1e+}`, `{"a":+1}`, `{"a":[1,]}`, `{"a":1,}`,
	`{,}`, `{"a" 1}`, `{"a":tru}`, `{"a":nul}`, `{"a":"x\qy"}`, `{"a":"\u12g4"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}",
	`{"a":NaN}`, `{"a":Infinity}`, "\xef\xbb\xbf{\"status\":\"UP\"}", `<html>oops</html>`, `{"a":[1 2]}`, `{"a":{"b":1 "c":2}}`,
	`{"a":1}}`, `[1]]`, `{"a":[}`, `{"a":{]}`, "{\"status\":\"UP\"}\f", `{"status":"UP"} `, " \n{ \"status\" : \"UP\" , \"x\" : [ 1 , 2 ] } \t\r",
	`{"components":{"db":{"status":"UP"}}}`, `{"components":{"db":null}}`, `{"components":[{"status":"UP"}]}`,
	`{"components":"db"}`, `{"items":[{"status":"UP"},{"status":"DOWN"}]}`, `{"items":{"0":1}}`, `{"items":[]}`,
	`{"items":[1,[2,[3]],{"x":[4]},"5",null,true]}`, `{"a":{"b":{"c":[1,{"d":2}]}}}`, `{"a":{"b":{"c":[1,{"d":2,"d":3}]}}}`,
	`{"checks":[1,2,3],"status":"UP"}`, `{"":1,"status":""}`,
	strings.Repeat("[", 600) + strings.Repeat("]", 600),
	`{"status":"UP","deep":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`,
	`{"status":"UP","deep":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	`{"status":"UP","deep":` + strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300) + `}`,
}

const healthUpBody = `{"status":"UP","components":{"db":{"status":"UP"},"disk":{"status":"UP","free":52428800}},"checks":[1,2,3]}`

// Conditions over json of every shape the plan knows, and some it
// leaves to the full decode.
var jsonConds = []string{
	`json.status == "UP"`, `json["status"] == "UP"`, `json.status`, `json.status.startsWith("U")`,
	`json.components.db.status == "UP"`, `json.components["db"].status == "UP"`, `json.components.db == {"status": "UP"}`,
	`has(json.status)`, `has(json.components.db)`, `has(json.components.db.status)`,
	`json.items[0].status == "UP"`, `json.items[1] == 2.0`, `json.items[5] == null`, `json.items[-1] == 1`, `json.items[0u] == 1`,
	`json[0] == 1`, `json[2] == 3`, `json[0].status == "UP"`,
	`json.items["0"] == 1`, `json.items[0] == 1`,
	`json.status == "UP" && json.checks[0] == 1.0`, `size(json.checks) == 3`, `json.checks[2] > 2`,
	`json.items.exists(i, i.status == "DOWN")`, `json.items.map(x, x.status)[0] == "UP"`,
	`json.n > 5`, `json.n == 100`, `json.n == 0.0`, `type(json.n) == double`,
	`json.a.b.c[1].d == 2`, `json.a.b.c[0] == 1`,
	`json == null`, `json != null && json.status == "UP"`, `"status" in json`, `json.status == json.other`,
	`[1].exists(json, json == 1)`, `json.deep[0] == []`, `size(json.components) == 2`,
	`json.status == "UP" || json.components.db.status == "UP"`, `json[""] == 1`, `json.a[0] == 5`,
	// encoding/json decodes invalid UTF-8 in a name to U+FFFD.
	`json["st\uFFFDatus"] == "UP"`, `json["caf\u00e9"] == 1`,
	`json.items[9223372036854775807] == 1`, `json.items[-9223372036854775808] == 1`,
}

// The sparse decode gives every condition the verdict and failure text
// the full decode gives, on every body.
func TestSparseMatchesFullDecode(t *testing.T) {
	for _, c := range jsonConds {
		fast, err := Compile([]string{c})
		require.NoError(t, err, c)
		full := wholeJSON(fast)
		for _, body := range edgeBodies {
			in := Input{Status: 200, Body: body}
			require.Equal(t, full.Eval(&in), fast.Eval(&in), "condition %s, body %q", c, body)
			checkSparse(t, body, fast.json)
		}
	}
}

// wholeJSON is s with json decoded in full: the behaviour before plans.
func wholeJSON(s *Set) *Set {
	full := *s
	full.json = &jsonPlan{whole: true}
	return &full
}

// The same over random documents, paths and mutations of both.
func TestSparseMatchesFullDecodeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2026))
	for range 3000 {
		body := randomJSON(rng, 0)
		if rng.IntN(4) == 0 {
			body = mutate(rng, body)
		}
		var conds []string
		for range 1 + rng.IntN(3) {
			conds = append(conds, randomCond(rng))
		}
		fast, err := Compile(conds)
		require.NoError(t, err, "%q", conds)
		in := Input{Body: body}
		require.Equal(t, wholeJSON(fast).Eval(&in), fast.Eval(&in), "conditions %q, body %q", conds, body)
		checkSparse(t, body, fast.json)
	}
}

var randomKeys = []string{"a", "b", "status", "0", "a"}

func randomJSON(rng *rand.Rand, depth int) string {
	n := rng.IntN(10)
	if depth > 3 {
		n = 5 + rng.IntN(5)
	}
	switch n {
	case 0, 1, 2:
		var members []string
		for range rng.IntN(4) {
			members = append(members, strconv.Quote(randomKeys[rng.IntN(len(randomKeys))])+":"+randomJSON(rng, depth+1))
		}
		return "{" + strings.Join(members, ",") + "}"
	case 3, 4:
		var elems []string
		for range rng.IntN(4) {
			elems = append(elems, randomJSON(rng, depth+1))
		}
		return "[" + strings.Join(elems, ",") + "]"
	case 5:
		return []string{`"UP"`, `"DOWN"`, `"\u0055P"`, `""`}[rng.IntN(4)]
	case 6:
		return []string{`1`, `-2.5`, `1e3`, `1e999`, `0`, `2`}[rng.IntN(6)]
	case 7:
		return []string{`true`, `false`}[rng.IntN(2)]
	default:
		return `null`
	}
}

func mutate(rng *rand.Rand, s string) string {
	if s == "" {
		return s
	}
	i := rng.IntN(len(s))
	switch rng.IntN(3) {
	case 0:
		return s[:i] + s[i+1:]
	case 1:
		const bytes = "{}[],:\"\\ 1e-"
		return s[:i] + string(bytes[rng.IntN(len(bytes))]) + s[i:]
	default:
		return s[:i]
	}
}

func randomCond(rng *rand.Rand) string {
	path := "json"
	for range rng.IntN(4) {
		switch rng.IntN(3) {
		case 0:
			path += "." + []string{"a", "b", "status"}[rng.IntN(3)]
		case 1:
			path += fmt.Sprintf("[%q]", randomKeys[rng.IntN(len(randomKeys))])
		default:
			path += fmt.Sprintf("[%d]", rng.IntN(3))
		}
	}
	switch rng.IntN(5) {
	case 0:
		return path + ` == "UP"`
	case 1:
		return path + ` == 1`
	case 2:
		return "has(" + path + ".status)"
	case 3:
		return "size(" + path + ") > 1"
	default:
		return path + " != null"
	}
}

// FuzzDecodeSparse holds decodeSparse to its contract (checkSparse) on
// any body, for a few plans:
//
//	go test -run '^$' -fuzz FuzzDecodeSparse -fuzztime 60s ./internal/cond/
func FuzzDecodeSparse(f *testing.F) {
	for _, b := range edgeBodies {
		f.Add(b)
	}
	var plans []*jsonPlan
	for _, conds := range [][]string{
		{`json.status == "UP"`},
		{`json.components.db.status == "UP"`, `json.a[1].b == 1`, `json[0] == 1`},
		{`json.items[0].status == "UP"`, `size(json.checks) == 1`, `has(json.a.b)`},
	} {
		set, err := Compile(conds)
		require.NoError(f, err)
		plans = append(plans, set.json)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range plans {
			checkSparse(t, body, p)
		}
	})
}

// A condition that reads no json gets null whatever the body, as before.
func TestJSONUnreadIsNull(t *testing.T) {
	set, err := Compile([]string{`status == 200`})
	require.NoError(t, err)
	a := &activation{set: set, in: &Input{Body: healthUpBody}}
	require.Equal(t, types.NullValue, a.jsonValue())
}
