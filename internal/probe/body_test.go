package probe

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// The length a response states only sizes readBody's first buffer: the
// body read is the same whether the length is true, false or missing.
func TestReadBody(t *testing.T) {
	body := strings.Repeat("0123456789", 300) // 3000 bytes
	for _, tt := range []struct {
		name   string
		length int64
		limit  int64
		want   string
	}{
		{"length stated", 3000, 64 << 10, body},
		{"no length", -1, 64 << 10, body},
		{"length too short", 10, 64 << 10, body},
		{"length too long", 1 << 40, 64 << 10, body},
		{"zero length", 0, 64 << 10, body},
		{"capped", 3000, 1000, body[:1000]},
		{"capped without length", -1, 1000, body[:1000]},
		{"cap of one", 3000, 1, body[:1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(body), iotest.OneByteReader(strings.NewReader(body)),
				iotest.DataErrReader(strings.NewReader(body))} {
				got, err := readBody(r, tt.length, tt.limit)
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		got, err := readBody(strings.NewReader(""), 0, 64<<10)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("error keeps what was read", func(t *testing.T) {
		boom := errors.New("connection reset")
		got, err := readBody(io.MultiReader(strings.NewReader("par"), iotest.ErrReader(boom)), 100, 64<<10)
		require.ErrorIs(t, err, boom)
		require.Equal(t, "par", got)
	})
}
