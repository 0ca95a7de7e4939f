//go:build faults

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Port layout of one suite run. Every port is below 32768 and checked to be
// free before the run starts; the block is picked at random so that two
// runs on one machine (a developer's and CI's) do not collide.
const (
	portBlock      = 40
	offPostgres    = 0
	offRabbit      = 1 // the broker also takes offRabbit+1 .. offRabbit+12
	offServers     = 20
	offWorkers     = 28
	maxServerProcs = 8
	maxWorkerProcs = 12
)

// pickPortBlock finds portBlock consecutive free loopback ports in
// [20000, 32000).
func pickPortBlock() (int, error) {
	for range 200 {
		base := 20000 + rand.N(12000-portBlock)
		if blockFree(base) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free block of %d ports below 32000", portBlock)
}

func blockFree(base int) bool {
	for p := base; p < base+portBlock; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		_ = ln.Close()
	}
	return true
}

// script runs one of hack/faults/*.sh and returns its combined output.
func script(ctx context.Context, root, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "faults", name), args...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// cleanEnv is the test's environment without VIGIL_* settings, so a
// developer's shell cannot change what the suite runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIGIL_") {
			env = append(env, kv)
		}
	}
	return env
}

// postgresInstance is the suite's private PostgreSQL.
type postgresInstance struct {
	root, dir string
	port      int
}

func (p *postgresInstance) run(ctx context.Context, cmd string) error {
	_, err := script(ctx, p.root, "postgres.sh", cmd, p.dir, strconv.Itoa(p.port))
	return err
}

func (p *postgresInstance) start(ctx context.Context) error { return p.run(ctx, "start") }
func (p *postgresInstance) stop(ctx context.Context) error  { return p.run(ctx, "stop") }
func (p *postgresInstance) crash(ctx context.Context) error { return p.run(ctx, "crash") }
func (p *postgresInstance) kill(ctx context.Context) error  { return p.run(ctx, "kill") }

// url is the connection URL of database db.
func (p *postgresInstance) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// up reports whether the server accepts connections.
func (p *postgresInstance) up(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		return false
	}
	_ = c.Close(ctx)
	return true
}

// conn connects to database db.
func (p *postgresInstance) conn(ctx context.Context, db string) (*pgx.Conn, error) {
	c, err := pgx.Connect(ctx, p.url(db))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", db, err)
	}
	return c, nil
}

// exec runs one statement on database db.
func (p *postgresInstance) exec(ctx context.Context, db, sql string, args ...any) error {
	c, err := p.conn(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// rabbitInstance is the suite's private RabbitMQ node.
type rabbitInstance struct {
	root, dir string
	port      int
}

func (r *rabbitInstance) run(ctx context.Context, cmd string, args ...string) (string, error) {
	return script(ctx, r.root, "rabbitmq.sh", append([]string{cmd, r.dir, strconv.Itoa(r.port)}, args...)...)
}

func (r *rabbitInstance) start(ctx context.Context) error {
	_, err := r.run(ctx, "start")
	return err
}

func (r *rabbitInstance) stop(ctx context.Context) error {
	_, err := r.run(ctx, "stop")
	return err
}

func (r *rabbitInstance) kill(ctx context.Context) error {
	_, err := r.run(ctx, "kill")
	return err
}

// ctl runs rabbitmqctl against the node.
func (r *rabbitInstance) ctl(ctx context.Context, args ...string) (string, error) {
	return r.run(ctx, "ctl", args...)
}

// url is the AMQP URL of vhost.
func (r *rabbitInstance) url(vhost string) string {
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/%s", r.port, url.PathEscape(vhost))
}

// up reports whether the broker completes an AMQP handshake on vhost "/".
func (r *rabbitInstance) up() bool {
	c, err := amqp.DialConfig(r.url(""), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
