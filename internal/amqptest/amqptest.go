// Package amqptest gives an integration test its own RabbitMQ virtual
// host on the real broker, so tests that run whole Vigil processes (whose
// queue and exchange names are fixed) cannot see each other's messages.
package amqptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// DefaultURL is the local broker CI and developers run.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// BaseURL is the broker tests use: $VIGIL_TEST_AMQP_URL or DefaultURL.
func BaseURL() string {
	if u := os.Getenv("VIGIL_TEST_AMQP_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Vhost creates a fresh virtual host with rabbitmqctl, deletes it when the
// test ends, and returns a URL for it. It fails the test - never skips it -
// when the broker or rabbitmqctl is unavailable.
func Vhost(tb testing.TB) string {
	tb.Helper()
	base, err := url.Parse(BaseURL())
	if err != nil {
		tb.Fatalf("parse %s: %v", BaseURL(), err)
	}
	conn, err := net.DialTimeout("tcp", base.Host, 5*time.Second)
	if err != nil {
		tb.Fatalf("RabbitMQ is required for this test (%s): %v", base.Host, err)
	}
	_ = conn.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "vigil-test-" + hex.EncodeToString(b[:])
	user := base.User.Username()
	if user == "" {
		user = "guest"
	}
	ctl(tb, "add_vhost", name)
	tb.Cleanup(func() { ctl(tb, "delete_vhost", name) })
	ctl(tb, "set_permissions", "-p", name, user, ".*", ".*", ".*")
	base.Path = "/" + name
	return base.String()
}

func ctl(tb testing.TB, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
