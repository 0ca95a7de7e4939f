package browser

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// defaultChromium is where Debian's chromium package puts the browser.
const defaultChromium = "/usr/bin/chromium"

// chromiumPath returns the browser to drive, failing the test with the
// command that installs it when it is missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := defaultChromium
	if v := os.Getenv("VIGIL_TEST_CHROMIUM"); v != "" {
		p = v
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("headless Chromium is required at %s (%v): install it with `apt-get install -y chromium` "+
			"(hack/install-chromium.sh does so when it is missing)", p, err)
	}
	return p
}

// page is one browser tab with its console watched for script errors.
type page struct {
	t   *testing.T
	ctx context.Context //nolint:containedctx // the tab's chromedp context: the page is that tab

	mu       sync.Mutex
	problems []string
}

// newPage starts a fresh headless Chromium (own profile directory) with
// one tab; the browser is closed when the test ends.
func newPage(t *testing.T) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit, before TempDir goes
	})
	// No timeout here: the first Do binds the browser's life to its context.
	require.NoError(t, chromedp.Do(ctx), "start chromium")

	p := &page{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if problem(m) {
				p.mu.Lock()
				p.problems = append(p.problems, m.String()+" at "+m.URL)
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// problem reports whether a console message means the page is broken: an
// uncaught exception, console.error from our scripts, or a security
// violation such as a blocked inline script. Failed requests are not: the
// tests stop servers and answer 401 on purpose.
func problem(m chromedp.ConsoleMessage) bool {
	if m.IsException() || m.Source == "security" {
		return true
	}
	return m.Type == chromedp.ConsoleError && m.Source == "" && !strings.Contains(m.Text, "WebSocket connection")
}

// requireNoProblems fails the test if the page logged any problem.
func (p *page) requireNoProblems() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Empty(p.t, p.problems, "the page logged errors")
}

// do runs actions with a bound on how long they may take.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	require.NoError(p.t, chromedp.Do(ctx, actions...))
}

// eval evaluates expr in the page and decodes its JSON value into T.
func eval[T any](p *page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	var v T
	if err != nil {
		return v, err
	}
	err = json.Unmarshal(raw, &v)
	return v, err
}

func mustEval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := eval[T](p, expr)
	require.NoError(p.t, err, expr)
	return v
}

// row is what a user sees of one service in the table.
type row struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	State   string   `json:"state"` // data-state, which drives the colour
	Badge   string   `json:"badge"` // the state as text
	Latency string   `json:"latency"`
	Error   string   `json:"error"`
	Spark   int      `json:"spark"` // points in the sparkline
	Tags    []string `json:"tags"`
	Color   string   `json:"color"` // computed colour of the badge
}

const rowsJS = `Array.from(document.querySelectorAll('#rows tr')).map(tr => ({
  id: tr.dataset.id,
  name: tr.querySelector('.service-name').textContent,
  state: tr.dataset.state,
  badge: tr.querySelector('.badge-text').textContent,
  latency: tr.querySelector('.cell-latency').textContent,
  error: tr.querySelector('.service-error').textContent,
  spark: (() => {
    const line = tr.querySelector('.spark polyline');
    return line ? line.getAttribute('points').trim().split(/\s+/).length : tr.querySelectorAll('.spark circle').length;
  })(),
  tags: Array.from(tr.querySelectorAll('.tag')).map(b => b.textContent),
  color: getComputedStyle(tr.querySelector('.badge')).color,
}))`

// rows reads the table; an error (say, mid-navigation) reads as no rows.
func (p *page) rows() []row {
	rs, err := eval[[]row](p, rowsJS)
	if err != nil {
		return nil
	}
	return rs
}

func byName(rs []row) map[string]row {
	m := make(map[string]row, len(rs))
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}

func names(rs []row) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// text is the text content of the first element matching a CSS selector.
func (p *page) text(selector string) string {
	s, err := eval[string](p, `(document.querySelector(`+jsString(selector)+`) || {textContent: ''}).textContent`)
	if err != nil {
		return ""
	}
	return s
}

// attr is an attribute of the first element matching a CSS selector.
func (p *page) attr(selector, name string) string {
	s, err := eval[string](p, `(document.querySelector(`+jsString(selector)+`) || {getAttribute: () => ''}).getAttribute(`+jsString(name)+`) || ''`)
	if err != nil {
		return ""
	}
	return s
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// setValue sets a form control's value and fires the event the page
// listens to, as a user's edit would.
func (p *page) setValue(selector, value, event string) {
	p.t.Helper()
	mustEval[bool](p, `(() => { const e = document.querySelector(`+jsString(selector)+`); e.value = `+jsString(value)+
		`; e.dispatchEvent(new Event(`+jsString(event)+`, {bubbles: true})); return e.value === `+jsString(value)+`; })()`)
}

// screenshot writes a PNG of the whole page to testdata/artifacts/ at the
// repository root, where CI collects artifacts (the directory is ignored
// by git).
func (p *page) screenshot(name string) string {
	p.t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "artifacts"))
	require.NoError(p.t, err)
	require.NoError(p.t, os.MkdirAll(dir, 0o755))
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(p.t, err)
	require.True(p.t, len(png) > 8 && string(png[1:4]) == "PNG", "a PNG image")
	path := filepath.Join(dir, name)
	require.NoError(p.t, os.WriteFile(path, png, 0o644))
	p.t.Logf("screenshot: %s", path)
	return path
}

// prefersDark switches prefers-color-scheme for the page.
func (p *page) prefersDark(dark bool) {
	p.t.Helper()
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	require.NoError(p.t, err)
}
