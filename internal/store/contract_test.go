package store_test

import (
	"context"
	"testing"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry/registrytest"
)

// The scenario table the fakes pass runs against the store too, each
// scenario on a schema of its own: the fakes' contract is the store's.
func TestStoreKeepsTheRegistryContract(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, func(t *testing.T) registrytest.Subject {
		s, _ := newStore(t)
		return registrytest.Subject{Registry: s, AddResults: func(ctx context.Context, rs []check.Result) error {
			_, err := s.Record(ctx, rs)
			return err
		}}
	})
}
