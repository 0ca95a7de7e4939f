package check

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxErrorBytes bounds a result's error text. Probe errors are a few
// words; anything longer is a target echoing its own input back (a 60 KB
// header in a parse error, a gRPC status message of any size), and that
// text is copied into the result, the state row, the transition, every
// broker message and every WebSocket event of every probe.
const MaxErrorBytes = 1 << 10

// ellipsis marks text that CleanText cut short.
const ellipsis = "…"

// CleanText makes s safe to store, log, publish and show: valid UTF-8 (each
// invalid byte becomes U+FFFD), no NUL or other control characters (tab,
// newline and carriage return become a space, so one error stays one line),
// and at most maxBytes bytes, cut on a rune boundary and marked with "…".
// PostgreSQL refuses text with NUL or invalid UTF-8, so one such byte from
// a target would otherwise fail the whole batch its result was recorded in.
// maxBytes <= 0 means no cap.
func CleanText(s string, maxBytes int) string {
	if isClean(s) && (maxBytes <= 0 || len(s) <= maxBytes) {
		return s // the common case allocates nothing
	}
	var b strings.Builder
	b.Grow(min(len(s), max(maxBytes, 0)))
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				r = unicode.ReplacementChar // an invalid byte, not a real U+FFFD
			}
		}
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			r = ' '
		case unicode.IsControl(r):
			continue
		}
		if maxBytes > 0 && b.Len()+utf8.RuneLen(r) > maxBytes {
			if maxBytes < 2*len(ellipsis) {
				return cut(b.String(), maxBytes) // no room for the mark
			}
			return cut(b.String(), maxBytes-len(ellipsis)) + ellipsis
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cut returns the longest prefix of s of at most n bytes that ends on a
// rune boundary.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// CleanError is CleanText with the cap of a result's error text.
func CleanError(s string) string { return CleanText(s, MaxErrorBytes) }

// isClean reports whether s is valid UTF-8 without control characters.
func isClean(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		} else if c >= utf8.RuneSelf {
			// Leave the byte loop for the rune loop: slower, but only text
			// that is not plain ASCII pays for it.
			return utf8.ValidString(s[i:]) && !strings.ContainsFunc(s[i:], unicode.IsControl)
		}
	}
	return true
}

// HasControl reports whether s holds a NUL or another control character, or
// is not valid UTF-8: what a registered string (a name, a tag, a URL) must
// never hold. Unlike a target's text, a caller's input is refused rather
// than cleaned, so what is stored is exactly what was sent.
func HasControl(s string) bool { return !isClean(s) }
