package registrytest_test

import (
	"context"
	"testing"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry/registrytest"
)

func TestMemoryKeepsTheContract(t *testing.T) {
	registrytest.Run(t, func(*testing.T) registrytest.Subject {
		m := registrytest.NewMemory(nil)
		return registrytest.Subject{Registry: m, AddResults: func(_ context.Context, rs []check.Result) error {
			for _, r := range rs {
				m.AddResult(r)
			}
			return nil
		}}
	})
}
