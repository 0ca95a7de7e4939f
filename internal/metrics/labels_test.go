package metrics_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/metrics"
)

func TestParseLabelKeys(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: " team , tier ,", want: []string{"team", "tier"}},
		{in: "team,team", want: []string{"team"}},
		{in: "app.kubernetes.io/part-of,Team_2", want: []string{"app.kubernetes.io/part-of", "Team_2"}},
		{in: "team,te.am,te-am", wantErr: `"te.am" and "te-am" would both be label_te_am`},
		{in: "-team", wantErr: "start and end with an alphanumeric"},
		{in: "team-", wantErr: "start and end with an alphanumeric"},
		{in: "te am", wantErr: "alphanumerics"},
		{in: "/team", wantErr: "prefix"},
		{in: "Example.com/team", wantErr: "prefix"},
		{in: strings.Repeat("a", 64), wantErr: "1 to 63"},
		{in: "a/", wantErr: "1 to 63"},
		{in: "a,b,c,d,e,f,g,h,i,j,k", wantErr: "at most 10 label keys, got 11"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := metrics.ParseLabelKeys(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLabelName(t *testing.T) {
	for key, want := range map[string]string{
		"team":                      "label_team",
		"app.kubernetes.io/part-of": "label_app_kubernetes_io_part_of",
		"Tier_2":                    "label_Tier_2",
		"ünïcode":                   "label___n__code", // bytes, not runes: each byte of a non-ASCII rune is one '_'
	} {
		require.Equal(t, want, metrics.LabelName(key), key)
	}
}

// checkUpLabels returns every vigil_check_up series as its label set and
// value. Labels with empty values are left out, as Prometheus ingests them.
func checkUpLabels(fams map[string]*dto.MetricFamily) []map[string]string {
	var out []map[string]string
	for _, m := range fams["vigil_check_up"].GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			if lp.GetValue() != "" {
				got[lp.GetName()] = lp.GetValue()
			}
		}
		if m.GetGauge().GetValue() == 1 {
			got["="] = "1"
		} else {
			got["="] = "0"
		}
		out = append(out, got)
	}
	return out
}

func TestCheckUpLabelsInKubernetesMode(t *testing.T) {
	keys, err := metrics.ParseLabelKeys("team,app.kubernetes.io/tier")
	require.NoError(t, err)
	m := metrics.New(metrics.WithKubernetesNames(), metrics.WithCheckLabels(keys))
	require.True(t, m.CheckLabels())

	require.False(t, m.KnowsCheckTags("a"))
	m.SetCheckTags("a", []string{"app.kubernetes.io/tier=web", "other=x", "team=checkout", "notakeyvalue"})
	require.True(t, m.KnowsCheckTags("a"))
	m.Transition(check.Transition{CheckID: "a", Service: "shop/payments", From: check.StateUnknown, To: check.StateUp, At: t0})
	// A check whose tags were never told gets empty copies, not a failure.
	m.SetState("b", "shop/cart", check.StateDown)
	// A name that is not "<namespace>/<name>" has neither.
	m.SetState("c", "odd", check.StateUp)

	require.ElementsMatch(t, []map[string]string{
		{"check_id": "a", "service": "shop/payments", "namespace": "shop", "name": "payments", "label_team": "checkout", "label_app_kubernetes_io_tier": "web", "=": "1"},
		{"check_id": "b", "service": "shop/cart", "namespace": "shop", "name": "cart", "=": "0"},
		{"check_id": "c", "service": "odd", "=": "1"},
	}, checkUpLabels(scrape(t, m)))

	t.Run("a label change moves the series and keeps its value", func(t *testing.T) {
		m.SetCheckTags("a", []string{"team=payments"})
		m.SetCheckTags("b", []string{"team=cart"})
		require.ElementsMatch(t, []map[string]string{
			{"check_id": "a", "service": "shop/payments", "namespace": "shop", "name": "payments", "label_team": "payments", "=": "1"},
			{"check_id": "b", "service": "shop/cart", "namespace": "shop", "name": "cart", "label_team": "cart", "=": "0"},
			{"check_id": "c", "service": "odd", "=": "1"},
		}, checkUpLabels(scrape(t, m)))
	})

	t.Run("pausing drops the series but keeps the labels for the resume", func(t *testing.T) {
		m.Transition(check.Transition{CheckID: "a", Service: "shop/payments", From: check.StateUp, To: check.StatePaused, At: t0})
		require.True(t, m.KnowsCheckTags("a"))
		m.Transition(check.Transition{CheckID: "a", Service: "shop/payments", From: check.StateUnknown, To: check.StateDown, At: t0})
		require.Contains(t, checkUpLabels(scrape(t, m)),
			map[string]string{"check_id": "a", "service": "shop/payments", "namespace": "shop", "name": "payments", "label_team": "payments", "=": "0"})
	})

	t.Run("a deleted check forgets its labels", func(t *testing.T) {
		m.CheckDeleted("a")
		require.False(t, m.KnowsCheckTags("a"))
	})
}

func TestCheckUpLabelsInComposeMode(t *testing.T) {
	keys, err := metrics.ParseLabelKeys("team")
	require.NoError(t, err)
	m := metrics.New(metrics.WithCheckLabels(keys))
	m.SetCheckTags("a", []string{"team=" + strings.Repeat("x", 100) + "\x00"})
	m.SetState("a", "team/api", check.StateUp)
	got := checkUpLabels(scrape(t, m))
	require.Len(t, got, 1)
	require.Empty(t, got[0]["namespace"], "a REST check's slash is no namespace")
	require.LessOrEqual(t, len(got[0]["label_team"]), 63, "copied values are bounded")
	require.NotContains(t, got[0]["label_team"], "\x00")

	plain := metrics.New()
	require.False(t, plain.CheckLabels())
	require.True(t, plain.KnowsCheckTags("anything"), "nothing to look up without an allow-list")
	plain.SetCheckTags("a", []string{"team=x"})
	plain.SetState("a", "api", check.StateUp)
	require.Equal(t, []map[string]string{{"check_id": "a", "service": "api", "=": "1"}}, checkUpLabels(scrape(t, plain)))
}

func TestPruneKeepsWhatChangedAfterTheMark(t *testing.T) {
	m := metrics.New()
	m.SetState("gone", "a/gone", check.StateUp)
	m.SetState("live", "a/live", check.StateUp)
	mark := m.Epoch()
	// A check registered and decided after the list was read is not in it.
	m.SetState("new", "a/new", check.StateDown)
	live := map[string]bool{"live": true}
	require.Equal(t, 1, m.Prune(mark, func(id string) bool { return live[id] }))
	require.Equal(t, map[string]float64{"live/a/live": 1, "new/a/new": 0}, checkUp(scrape(t, m)))

	var nilM *metrics.Metrics
	require.Zero(t, nilM.Epoch())
	require.Zero(t, nilM.Prune(1, func(string) bool { return false }))
}

func TestBuildInfo(t *testing.T) {
	fams := scrape(t, metrics.New(metrics.WithBuild("v1.2.3", "abc123")))
	require.Equal(t, 1.0, series(fams, "vigil_build_info", map[string]string{
		"version": "v1.2.3", "revision": "abc123", "goversion": runtime.Version(),
	}).GetGauge().GetValue())

	fams = scrape(t, metrics.New())
	mf := fams["vigil_build_info"]
	require.Len(t, mf.GetMetric(), 1)
	for _, lp := range mf.GetMetric()[0].GetLabel() {
		require.NotEmpty(t, lp.GetValue(), lp.GetName())
	}
}

func TestCollectorsJoinAnotherRegistry(t *testing.T) {
	m := metrics.New(metrics.WithBuild("v1", "r1"))
	reg := prometheus.NewRegistry()
	// Another registry with runtime collectors of its own, as
	// controller-runtime's has: Vigil's collectors must not clash with them.
	reg.MustRegister(collectors.NewGoCollector())
	for _, c := range m.Collectors() {
		require.NoError(t, reg.Register(c))
	}
	m.Dispatched([]check.Job{{CheckID: "a", ScheduledAt: t0}}, t0)
	fams, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	require.True(t, names["vigil_jobs_published_total"])
	require.True(t, names["vigil_schedule_lag_seconds"])
	require.True(t, names["vigil_build_info"])
	require.False(t, names["process_cpu_seconds_total"], "runtime collectors stay in Vigil's own registry")
}
