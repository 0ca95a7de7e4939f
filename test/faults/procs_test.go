//go:build faults

package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is one `vigil server` or `vigil worker` OS process.
type proc struct {
	name    string // e.g. "server-0"
	kind    string // "server" or "worker"
	addr    string // HTTP address (server) or metrics address (worker)
	region  string // a worker's VIGIL_REGION; "" for the default region
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	// doomed is set before the suite itself signals or kills the process,
	// so that an exit the suite did not cause is told apart.
	doomed atomic.Bool

	mu     sync.Mutex
	exited time.Time
	state  *os.ProcessState
}

func startProc(name, kind, bin, addr, logDir string, env []string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, kind)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C meant for `make` reaches the test, whose
	// cleanup stops the processes in order. Pdeathsig: if the test binary
	// itself dies (a panic, go test's -timeout), the processes die with it
	// rather than probe on forever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, kind: kind, addr: addr, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		p.mu.Lock()
		p.exited, p.state = time.Now(), cmd.ProcessState
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitInfo returns when and how the process ended.
func (p *proc) exitInfo() (time.Time, *os.ProcessState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited, p.state
}

// unexpected reports whether the process ended without the suite ending it.
func (p *proc) unexpected() bool { return !p.running() && !p.doomed.Load() }

// waitReady polls /readyz until it answers 200.
func (p *proc) waitReady(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	url := "http://" + p.addr + "/readyz"
	for {
		if !p.running() {
			return fmt.Errorf("%s exited before it was ready; log:\n%s", p.name, p.tail(40))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s: %w", p.name, within, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// kill9 is SIGKILL: the process gets no chance to finish anything.
func (p *proc) kill9() {
	p.doomed.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// terminate sends SIGTERM and waits up to wait for the exit. It returns how
// long the process took and its exit code (-1 when it had to be killed).
func (p *proc) terminate(wait time.Duration) (time.Duration, int) {
	p.doomed.Store(true)
	if !p.running() {
		_, st := p.exitInfo()
		return 0, st.ExitCode()
	}
	sent := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		at, st := p.exitInfo()
		return at.Sub(sent), st.ExitCode()
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
		return time.Since(sent), -1
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// describeExit says how an ended process ended, for failure messages.
func (p *proc) describeExit() string {
	at, st := p.exitInfo()
	if st == nil {
		return p.name + " is running"
	}
	var ws syscall.WaitStatus
	if s, ok := st.Sys().(syscall.WaitStatus); ok {
		ws = s
	}
	how := fmt.Sprintf("exit code %d", st.ExitCode())
	if ws.Signaled() {
		how = "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("%s ended at %s with %s; log tail:\n%s", p.name, at.Format(time.TimeOnly), how, p.tail(20))
}
