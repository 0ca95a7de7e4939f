package check_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// Every bound of Validate accepts its own edge: TestValidate shows the
// value one past each edge is refused, this shows the edge itself is not
// (which is what a mutation of < into <= changes).
func TestValidateAcceptsEveryBound(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*check.Check)
	}{
		{"lowest expected status", func(c *check.Check) { c.ExpectedStatus = 100 }},
		{"highest expected status", func(c *check.Check) { c.ExpectedStatus = 599 }},
		{"shortest interval", func(c *check.Check) { c.Interval, c.Timeout = check.MinInterval, check.MinInterval/2 }},
		{"longest interval", func(c *check.Check) { c.Interval = check.MaxInterval }},
		{"longest tag", func(c *check.Check) { c.Tags = []string{strings.Repeat("t", check.MaxTagLength)} }},
		{"most tags", func(c *check.Check) { c.Tags = strings.Split(strings.Repeat("t,", check.MaxTags-1)+"t", ",") }},
		{"longest url", func(c *check.Check) {
			c.URL = "http://example.com/" + strings.Repeat("p", check.MaxURLBytes-len("http://example.com/"))
		}},
		{"longest method", func(c *check.Check) { c.Method = strings.Repeat("M", 32) }},
		{"every kind of token character", func(c *check.Check) { c.Method = "A0Z9az!#$%&'*+-.^_`|~" }},
		{"one digit", func(c *check.Check) { c.Method = "5" }},
		{"lowercase", func(c *check.Check) { c.Method = "purge" }},
	}
	// The method cases need an installation that allows them: the default
	// policy allows only the safe methods.
	methods := check.Policy{Methods: []string{"GET", strings.Repeat("M", 32), "A0Z9az!#$%&'*+-.^_`|~", "5", "purge"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			require.NoError(t, c.ValidateFor(methods))
		})
	}
}

func TestValidateRefusesALongMethod(t *testing.T) {
	c := valid()
	c.Method = strings.Repeat("M", 33)
	fe, ok := check.AsFieldError(c.Validate())
	require.True(t, ok)
	require.Equal(t, "method", fe.Field)
}
