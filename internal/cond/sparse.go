package cond

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
)

// maxSparseDepth bounds the nesting the sparse decoder follows. A deeper
// document goes to the full decode, which has its own bound (encoding/json
// refuses more than 10000 levels); a health document is a few levels deep.
const maxSparseDepth = 512

// decodeJSON is the value of the json variable for body: what plan reads
// of the document (see jsonPlan), or the whole document when the plan
// needs it or when the sparse decoder cannot vouch for the body.
func decodeJSON(body string, plan *jsonPlan) any {
	if plan != nil && !plan.whole {
		if v, ok := decodeSparse(body, plan); ok {
			if v == nil {
				return types.NullValue
			}
			return v
		}
	}
	return parseJSON(body)
}

// parseJSON returns the body as JSON values, or null. The body is capped
// by the prober, and encoding/json bounds nesting depth itself.
func parseJSON(body string) any {
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil || v == nil {
		return types.NullValue
	}
	return v
}

// decodeSparse decodes the parts of body that plan names, in the Go types
// encoding/json gives them (map[string]any, []any, float64, string, bool,
// nil). It checks the whole body on the way, and reports false for
// anything it does not accept: text that is not JSON, a number a float64
// cannot hold (encoding/json fails the whole document for one), nesting
// deeper than maxSparseDepth. It accepts nothing encoding/json refuses; a
// body it refuses goes to the full decode, which has the last word, so
// refusing too much costs time, never a different value.
func decodeSparse(body string, plan *jsonPlan) (any, bool) {
	d := sparseDecoder{s: body}
	v, ok := d.value(plan)
	if !ok {
		return nil, false
	}
	d.ws()
	if d.i != len(d.s) {
		return nil, false
	}
	return v, true
}

type sparseDecoder struct {
	s     string
	i     int
	depth int
	// arrays has bit d set when the container open at depth d is an
	// array rather than an object.
	arrays [maxSparseDepth / 64]uint64
}

// value decodes the value at d.i as plan n reads it.
func (d *sparseDecoder) value(n *jsonPlan) (any, bool) {
	d.ws()
	if d.i >= len(d.s) {
		return nil, false
	}
	if !n.whole {
		switch d.s[d.i] {
		case '{':
			return d.object(n)
		case '[':
			return d.array(n)
		}
	}
	start := d.i
	if !d.skip() {
		return nil, false
	}
	return decodeWhole(d.s[start:d.i])
}

// object decodes the members n names of the object at d.i and skips the
// rest. A member named twice takes its last value, as in encoding/json.
func (d *sparseDecoder) object(n *jsonPlan) (any, bool) {
	if !d.open(false) {
		return nil, false
	}
	m := make(map[string]any, len(n.fields))
	if d.closeEmpty('}') {
		return m, true
	}
	for {
		key, ok := d.key()
		if !ok {
			return nil, false
		}
		if child := n.fields[key]; child != nil {
			v, ok := d.value(child)
			if !ok {
				return nil, false
			}
			m[key] = v
		} else if !d.skip() {
			return nil, false
		}
		more, ok := d.next('}')
		if !ok {
			return nil, false
		}
		if !more {
			return m, true
		}
	}
}

// array decodes the array at d.i up to the highest index n names, the
// elements n names in them; the others are placeholders no condition can
// reach. An index past the end of the cut list is past the end of the
// real one too, so it fails the same way.
func (d *sparseDecoder) array(n *jsonPlan) (any, bool) {
	if !d.open(true) {
		return nil, false
	}
	list := make([]any, 0, min(n.maxIndex, 15)+1)
	if d.closeEmpty(']') {
		return list, true
	}
	for i := int64(0); ; i++ {
		var (
			v  any
			ok bool
		)
		if child := n.index[i]; child != nil {
			v, ok = d.value(child)
		} else {
			ok = d.skip()
		}
		if !ok {
			return nil, false
		}
		if i <= n.maxIndex {
			list = append(list, v)
		}
		more, ok := d.next(']')
		if !ok {
			return nil, false
		}
		if !more {
			return list, true
		}
	}
}

// skip passes over the value at d.i, checking it as encoding/json checks
// a document. It keeps no stack beyond the bits in d.arrays, so a deep or
// long document costs no allocation.
func (d *sparseDecoder) skip() bool {
	base := d.depth
	for {
		ended, ok := d.skipStart()
		if !ok {
			return false
		}
		if !ended {
			continue
		}
		done, ok := d.skipEnd(base)
		if !ok {
			return false
		}
		if done {
			return true
		}
	}
}

// skipStart passes over the start of a value: all of a scalar or an empty
// container (ended), or the opening of a container up to where its first
// value starts.
func (d *sparseDecoder) skipStart() (ended, ok bool) {
	d.ws()
	if d.i >= len(d.s) {
		return false, false
	}
	switch c := d.s[d.i]; c {
	case '{':
		if !d.open(false) {
			return false, false
		}
		if d.closeEmpty('}') {
			return true, true
		}
		return false, d.skipKey()
	case '[':
		if !d.open(true) {
			return false, false
		}
		return d.closeEmpty(']'), true
	case '"':
		_, _, ok := d.str()
		return true, ok
	case 't':
		return true, d.literal("true")
	case 'f':
		return true, d.literal("false")
	case 'n':
		return true, d.literal("null")
	default:
		return true, d.number()
	}
}

// skipEnd follows a value that ended: it closes the containers that end
// with it and stops where the next value starts (after its key, in an
// object), or reports done when the container at depth base is closed.
func (d *sparseDecoder) skipEnd(base int) (done, ok bool) {
	for d.depth > base {
		inArray := d.inArray()
		closer := byte('}')
		if inArray {
			closer = ']'
		}
		more, ok := d.next(closer)
		switch {
		case !ok:
			return false, false
		case more && inArray:
			return false, true
		case more:
			return false, d.skipKey()
		}
	}
	return true, true
}

// open enters the container at d.i.
func (d *sparseDecoder) open(array bool) bool {
	if d.depth >= maxSparseDepth {
		return false
	}
	word, bit := d.depth/64, uint(d.depth%64)
	if array {
		d.arrays[word] |= 1 << bit
	} else {
		d.arrays[word] &^= 1 << bit
	}
	d.depth++
	d.i++
	return true
}

func (d *sparseDecoder) inArray() bool {
	top := d.depth - 1
	return d.arrays[top/64]&(1<<uint(top%64)) != 0
}

// closeEmpty closes the container just opened when closer comes next.
func (d *sparseDecoder) closeEmpty(closer byte) bool {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == closer {
		d.i++
		d.depth--
		return true
	}
	return false
}

// next reads what follows a member or element: a comma (more), or the
// container's closer.
func (d *sparseDecoder) next(closer byte) (more, ok bool) {
	d.ws()
	if d.i >= len(d.s) {
		return false, false
	}
	c := d.s[d.i]
	d.i++
	switch c {
	case ',':
		return true, true
	case closer:
		d.depth--
		return false, true
	default:
		return false, false
	}
}

// skipKey passes over a member's name and its colon.
func (d *sparseDecoder) skipKey() bool {
	d.ws()
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return false
	}
	if _, _, ok := d.str(); !ok {
		return false
	}
	return d.colon()
}

// key reads a member's name, decoded as encoding/json decodes it, and its
// colon.
func (d *sparseDecoder) key() (string, bool) {
	d.ws()
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", false
	}
	start := d.i
	raw, escaped, ok := d.str()
	if !ok || !d.colon() {
		return "", false
	}
	if !escaped && utf8.ValidString(raw) {
		return raw, true
	}
	var k string
	if err := json.Unmarshal([]byte(d.s[start:start+len(raw)+2]), &k); err != nil {
		return "", false
	}
	return k, true
}

func (d *sparseDecoder) colon() bool {
	d.ws()
	if d.i >= len(d.s) || d.s[d.i] != ':' {
		return false
	}
	d.i++
	return true
}

// str passes over the string at d.i and returns its text between the
// quotes, undecoded, and whether it has escapes. Like encoding/json it
// refuses control characters and unknown escapes and lets invalid UTF-8
// through (decoding replaces it).
func (d *sparseDecoder) str() (raw string, escaped, ok bool) {
	start := d.i + 1
	for i := start; i < len(d.s); i++ {
		switch c := d.s[i]; {
		case c == '"':
			d.i = i + 1
			return d.s[start:i], escaped, true
		case c < 0x20:
			return "", false, false
		case c == '\\':
			escaped = true
			i++
			if i >= len(d.s) || !validEscape(d.s[i:]) {
				return "", false, false
			}
			if d.s[i] == 'u' {
				i += 4
			}
		}
	}
	return "", false, false
}

// validEscape reports whether s starts with what may follow a backslash.
func validEscape(s string) bool {
	switch s[0] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	case 'u':
		return len(s) > 4 && isHex4(s[1:5])
	default:
		return false
	}
}

func isHex4(s string) bool {
	for i := range 4 {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

func (d *sparseDecoder) literal(word string) bool {
	if !strings.HasPrefix(d.s[d.i:], word) {
		return false
	}
	d.i += len(word)
	return true
}

// number passes over a number in JSON's grammar. One a float64 cannot
// hold makes encoding/json fail the whole document, so it is refused here
// too; only a number with an exponent or hundreds of digits can be one.
func (d *sparseDecoder) number() bool {
	s, start, i := d.s, d.i, d.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	exponent := i < len(s) && (s[i] == 'e' || s[i] == 'E')
	if exponent {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	d.i = i
	if exponent || i-start > 300 {
		if _, err := strconv.ParseFloat(s[start:i], 64); err != nil {
			return false
		}
	}
	return true
}

// digits returns the index after the run of digits at i.
func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// decodeWhole decodes one complete value the way encoding/json does: the
// common scalars directly, anything else through encoding/json itself.
func decodeWhole(raw string) (any, bool) {
	switch raw[0] {
	case '"':
		if text := raw[1 : len(raw)-1]; strings.IndexByte(text, '\\') < 0 && utf8.ValidString(text) {
			return text, true
		}
	case 't':
		return true, true
	case 'f':
		return false, true
	case 'n':
		return nil, true
	case '{', '[':
	default:
		f, err := strconv.ParseFloat(raw, 64)
		return f, err == nil
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, false
	}
	return v, true
}

func (d *sparseDecoder) ws() {
	for d.i < len(d.s) && d.s[d.i] <= ' ' {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}
