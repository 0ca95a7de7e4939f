package cond

import (
	"github.com/vigil-dev/vigil/internal/check"
)

// ValidateCheck is check.ValidateFor plus compiling c's conditions: what
// every registry runs before it stores a check, so that a condition that
// does not compile is refused at registration (a 400 naming
// conditions[i], or Ready=False InvalidSpec) rather than discovered as a
// DOWN result on every probe.
func ValidateCheck(c *check.Check, p check.Policy) error {
	if err := c.ValidateFor(p); err != nil {
		return err
	}
	if len(c.Conditions) == 0 {
		return nil
	}
	_, err := Compile(c.Conditions)
	return err
}
