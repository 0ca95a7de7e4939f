package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/config"
)

// operatorCommand binds `vigil operator`; it is filled in with the
// Kubernetes controllers.
func operatorCommand(string, *config.Config, *config.Set) (func(context.Context, config.Config, *zap.Logger) error, bool) {
	return nil, false
}
