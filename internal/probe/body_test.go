package probe

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// readBody reads what io.ReadAll of a LimitReader would, however the
// reader hands it over, and a buffer it lends out again never carries one
// body into the next.
func TestReadBody(t *testing.T) {
	var bufs sync.Pool
	long := strings.Repeat("0123456789", 3000) // 30000 bytes: grows the 8 KiB buffer
	for _, tt := range []struct {
		name  string
		body  string
		limit int64
		want  string
	}{
		{"long", long, 64 << 10, long},
		{"short after long", "ok", 64 << 10, "ok"},
		{"empty", "", 64 << 10, ""},
		{"capped", long, 1000, long[:1000]},
		{"cap of one", long, 1, long[:1]},
		{"beyond the pooled size", strings.Repeat("x", maxPooledBody+10), 1 << 20, strings.Repeat("x", maxPooledBody+10)},
		{"short again", "UP", 64 << 10, "UP"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.body), iotest.OneByteReader(strings.NewReader(tt.body)),
				iotest.DataErrReader(strings.NewReader(tt.body))} {
				got, err := readBody(r, tt.limit, &bufs)
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
			}
		})
	}
	t.Run("error keeps what was read", func(t *testing.T) {
		boom := errors.New("connection reset")
		got, err := readBody(io.MultiReader(strings.NewReader("par"), iotest.ErrReader(boom)), 64<<10, &bufs)
		require.ErrorIs(t, err, boom)
		require.Equal(t, "par", got)
	})
}

// The string readBody returns is the body's own: reading the next body
// into the same buffer leaves it as it was.
func TestReadBodyResultOutlivesBuffer(t *testing.T) {
	var bufs sync.Pool
	first, err := readBody(strings.NewReader(`{"status":"UP"}`), 64<<10, &bufs)
	require.NoError(t, err)
	_, err = readBody(strings.NewReader(`{"status":"DOWN, much longer"}`), 64<<10, &bufs)
	require.NoError(t, err)
	require.Equal(t, `{"status":"UP"}`, first)
}
