package check_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestValidateRegions(t *testing.T) {
	many := make([]string, check.MaxRegions+1)
	for i := range many {
		many[i] = "r" + strings.Repeat("x", i+1)
	}
	tests := []struct {
		name    string
		regions []string
		quorum  int
		field   string // "" for valid
	}{
		{"none", nil, 0, ""},
		{"one", []string{"eu-west"}, 1, ""},
		{"three of two", []string{"a", "b", "c"}, 2, ""},
		{"quorum all", []string{"a", "b", "c"}, 3, ""},
		{"longest name", []string{strings.Repeat("a", check.MaxRegionLength)}, 1, ""},
		{"most regions", many[:check.MaxRegions], 1, ""},
		{"too many", many, 1, "regions"},
		{"name too long", []string{strings.Repeat("a", check.MaxRegionLength+1)}, 1, "regions[0]"},
		{"upper case", []string{"eu", "EU-west"}, 1, "regions[1]"},
		{"leading dash", []string{"-eu"}, 1, "regions[0]"},
		{"trailing dash", []string{"eu-"}, 1, "regions[0]"},
		{"dot", []string{"eu.west"}, 1, "regions[0]"},
		{"empty", []string{""}, 1, "regions[0]"},
		{"queue name tricks", []string{"eu#"}, 1, "regions[0]"},
		{"repeated", []string{"a", "b", "a"}, 2, "regions[2]"},
		{"quorum zero", []string{"a"}, 0, "quorum"},
		{"quorum above regions", []string{"a", "b"}, 3, "quorum"},
		{"quorum without regions", nil, 1, "quorum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.Regions, c.Quorum = tt.regions, tt.quorum
			err := c.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			fe, ok := check.AsFieldError(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, tt.field, fe.Field)
		})
	}
}

func TestDefaultQuorumIsAMajority(t *testing.T) {
	for n, want := range []int{0, 1, 2, 2, 3, 3, 4} {
		require.Equal(t, want, check.DefaultQuorum(n), "%d regions", n)
	}
	c := check.Check{Name: "x", URL: "http://x", Interval: 10 * 1e9, Regions: []string{"a", "b", "c"}}
	c.SetDefaults()
	require.Equal(t, 2, c.Quorum)
	c = check.Check{Name: "x", URL: "http://x", Interval: 10 * 1e9, Regions: []string{"a", "b", "c"}, Quorum: 3}
	c.SetDefaults()
	require.Equal(t, 3, c.Quorum, "an explicit quorum stays")
}

func TestJobsForFansOutOverRegions(t *testing.T) {
	at := time.Unix(1_700_000_000, 0).UTC()
	c := valid()
	c.ID = "c1"
	plain := check.JobsFor(nil, &c, at)
	require.Equal(t, []check.Job{check.JobFor(&c, at)}, plain, "no regions: the one job it always was")
	require.Empty(t, plain[0].Region)
	require.Equal(t, check.DefaultRegion, plain[0].ResultRegion())

	c.Regions, c.Quorum = []string{"eu", "us", "default"}, 2
	jobs := check.JobsFor(plain, &c, at)
	require.Len(t, jobs, 4, "appended to what was there")
	for i, r := range c.Regions {
		j := jobs[1+i]
		require.Equal(t, r, j.Region)
		require.Equal(t, r, j.ResultRegion())
		j.Region = ""
		require.Equal(t, check.JobFor(&c, at), j, "the same probe otherwise")
	}
}
