package check

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCleanText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{name: "clean text is kept", in: "connection refused", max: 64, want: "connection refused"},
		{name: "empty", in: "", max: 8, want: ""},
		{name: "NUL is dropped", in: "bad\x00status", max: 64, want: "badstatus"},
		{name: "other C0 controls are dropped", in: "a\x01\x1b[31mb\x7f", max: 64, want: "a[31mb"},
		{name: "C1 controls are dropped", in: "a\u0085b\u009bc", max: 64, want: "abc"},
		{name: "line breaks and tabs become spaces", in: "line1\r\nline2\tx", max: 64, want: "line1  line2 x"},
		{name: "invalid UTF-8 becomes U+FFFD", in: "a\xffb\xc3", max: 64, want: "a\uFFFDb\uFFFD"},
		{name: "a real U+FFFD is kept", in: "a\uFFFDb", max: 64, want: "a\uFFFDb"},
		{name: "exactly at the cap is kept whole", in: strings.Repeat("x", 10), max: 10, want: strings.Repeat("x", 10)},
		{name: "one past the cap is cut and marked", in: strings.Repeat("x", 11), max: 10, want: strings.Repeat("x", 7) + "…"},
		{name: "a cut never splits a rune", in: strings.Repeat("é", 10), max: 10, want: strings.Repeat("é", 3) + "…"},
		{name: "a cap too small for the mark cuts without it", in: "abcdef", max: 4, want: "abcd"},
		{name: "no cap", in: strings.Repeat("x", 5000) + "\x00", max: 0, want: strings.Repeat("x", 5000)},
		{name: "dropped characters do not count toward the cap", in: "\x00\x00\x00abc", max: 3, want: "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, CleanText(tt.in, tt.max))
		})
	}
}

func TestCleanErrorCapsAHugeEcho(t *testing.T) {
	t.Parallel()
	// What net/http made of a 60 KB malformed header: the header quoted back.
	in := "malformed MIME header line: " + strings.Repeat("\xffA\x00", 60<<10)
	out := CleanError(in)
	require.LessOrEqual(t, len(out), MaxErrorBytes)
	require.True(t, strings.HasSuffix(out, "…"))
	require.False(t, HasControl(out))
}

func TestHasControl(t *testing.T) {
	t.Parallel()
	require.False(t, HasControl("payments-api ü 🙂"))
	require.False(t, HasControl(""))
	for _, s := range []string{"a\x00b", "tab\there", "new\nline", "\x7f", "c1\u0085", "bad\xff"} {
		require.True(t, HasControl(s), "%q", s)
	}
}

func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "ok", "a\x00b", "\xff\xfe", "é", strings.Repeat("€", 400), "\u0085\r\n\t"} {
		f.Add(s, 16)
		f.Add(s, MaxErrorBytes)
	}
	f.Fuzz(func(t *testing.T, s string, maxBytes int) {
		out := CleanText(s, maxBytes)
		if !utf8.ValidString(out) {
			t.Fatalf("CleanText(%q, %d) = %q: not valid UTF-8", s, maxBytes, out)
		}
		if maxBytes > 0 && len(out) > maxBytes {
			t.Fatalf("CleanText(%q, %d) = %q: %d bytes", s, maxBytes, out, len(out))
		}
		if strings.ContainsFunc(out, unicode.IsControl) {
			t.Fatalf("CleanText(%q, %d) = %q: holds a control character", s, maxBytes, out)
		}
		if HasControl(out) {
			t.Fatalf("CleanText(%q, %d) = %q: HasControl disagrees", s, maxBytes, out)
		}
		if CleanText(out, maxBytes) != out {
			t.Fatalf("CleanText is not idempotent on %q", out)
		}
		if !HasControl(s) && (maxBytes <= 0 || len(s) <= maxBytes) && out != s {
			t.Fatalf("CleanText changed clean input %q to %q", s, out)
		}
	})
}
