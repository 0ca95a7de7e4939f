package app

import (
	"context"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/config"
)

// Migrate runs `vigil migrate`: apply pending migrations and exit.
func Migrate(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	cfg.Migrate = true
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	st.Close()
	return nil
}
