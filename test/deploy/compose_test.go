// Package deploy checks the deployment files users run without a Docker
// engine: the compose file is loaded and validated by the compose-spec
// loader (the code `docker compose` itself uses), and the Dockerfile is
// checked for the properties the project promises.
package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	require.NoError(t, err)
	return dir
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root(t), "docker-compose.yml")},
		cli.WithWorkingDirectory(root(t)), cli.WithName("vigil"), cli.WithResolvedPaths(true))
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "docker-compose.yml must pass the compose-spec loader")
	return p
}

func TestComposeRunsTheWholeSystem(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"postgres", "rabbitmq", "server", "worker"} {
		s, err := p.GetService(name)
		require.NoError(t, err, name)
		require.NotNil(t, s.HealthCheck, "%s needs a healthcheck so dependants wait for it", name)
		require.NotEmpty(t, s.HealthCheck.Test, name)
	}

	server, _ := p.GetService("server")
	require.Equal(t, types.ShellCommand{"server"}, server.Command)
	require.NotNil(t, server.Build)
	require.Len(t, server.Ports, 1)
	require.Equal(t, "8080", server.Ports[0].Published)
	require.Equal(t, "127.0.0.1", server.Ports[0].HostIP,
		"the unauthenticated write API is published on the host's loopback only")
	for _, dep := range []string{"postgres", "rabbitmq"} {
		require.Equal(t, types.ServiceConditionHealthy, server.DependsOn[dep].Condition, "server waits for healthy %s", dep)
	}
	require.Contains(t, *server.Environment["VIGIL_DATABASE_URL"], "@postgres:5432/")
	require.Contains(t, *server.Environment["VIGIL_AMQP_URL"], "@rabbitmq:5672/")

	worker, _ := p.GetService("worker")
	require.Equal(t, types.ShellCommand{"worker"}, worker.Command)
	require.NotNil(t, worker.Deploy)
	require.NotNil(t, worker.Deploy.Replicas)
	require.Equal(t, 2, *worker.Deploy.Replicas)
	require.Empty(t, worker.Ports, "published ports would stop --scale worker=N")
	require.Empty(t, worker.ContainerName, "a fixed container name would stop --scale worker=N")
	require.Equal(t, types.ServiceConditionHealthy, worker.DependsOn["server"].Condition,
		"workers start after the server has migrated the database")
	require.Equal(t, server.Image, worker.Image, "one image for every process")
	require.Equal(t, *server.Environment["VIGIL_DATABASE_URL"], *worker.Environment["VIGIL_DATABASE_URL"])
}

func TestDockerfileBuildsAStaticNonRootImage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	require.NoError(t, err)
	df := string(b)
	require.Equal(t, 2, strings.Count(df, "\nFROM "), "multi-stage: build and runtime")
	require.Contains(t, df, "CGO_ENABLED=0", "static binary")
	require.Contains(t, df, "./cmd/vigil")
	require.Contains(t, df, "USER 65532:65532", "runs as non-root")
	require.Contains(t, df, "distroless/static")
	// Every directory the build copies must exist, or `docker build` fails.
	for line := range strings.SplitSeq(df, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "COPY" && strings.HasSuffix(f[1], "/") {
			_, err := os.Stat(filepath.Join(root(t), f[1]))
			require.NoError(t, err, "Dockerfile copies %s", f[1])
		}
	}
}
