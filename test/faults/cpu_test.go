//go:build faults

package faults

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

// cpuSample is CPU seconds used so far by each part of the system under
// test, taken at one moment.
type cpuSample struct {
	at    time.Time
	parts map[string]float64
	// busy is CPU seconds the whole machine spent not idle, so that a run
	// can tell its own load from other work on a shared machine.
	busy float64
}

// machineBusy reads the busy CPU seconds of every core from /proc/stat.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	// cpu user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already part of user time.
	f := strings.Fields(line)
	if len(f) < 9 {
		return 0
	}
	total := 0.0
	for i, v := range f[1:9] {
		n, _ := strconv.ParseFloat(v, 64)
		if i != 3 && i != 4 { // idle, iowait
			total += n
		}
	}
	return total / clkTck
}

// procStat returns utime+stime in seconds and the parent pid of pid.
func procStat(pid int) (cpu float64, ppid int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// Fields after the parenthesised command name: state, ppid, ...;
	// utime and stime are the 14th and 15th fields of the line.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck, ppid, true
}

// treeCPU is the CPU seconds of root and its direct children (the
// postmaster and its backends; the Erlang VM and its helpers).
func treeCPU(root int) float64 {
	total, _, _ := procStat(root)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cpu, ppid, ok := procStat(pid); ok && ppid == root {
			total += cpu
		}
	}
	return total
}

func pidFromFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

func (r *rig) sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), parts: map[string]float64{}, busy: machineBusy()}
	for _, p := range r.live() {
		cpu, _, _ := procStat(p.pid())
		s.parts["vigil"] += cpu
	}
	if pid := pidFromFile(filepath.Join(r.s.pg.dir, "data", "postmaster.pid")); pid > 0 {
		s.parts["postgres"] = treeCPU(pid)
	}
	if pid := pidFromFile(filepath.Join(r.s.mq.dir, "rabbitmq.pid")); pid > 0 {
		s.parts["rabbitmq"] = treeCPU(pid)
	}
	cpu, _, _ := procStat(os.Getpid())
	s.parts["harness"] = cpu
	return s
}

// coresBetween renders the cores each part used between a and b.
func coresBetween(a, b cpuSample) string {
	wall := b.at.Sub(a.at).Seconds()
	total := 0.0
	var out []string
	for _, name := range []string{"vigil", "postgres", "rabbitmq", "harness"} {
		c := max(b.parts[name]-a.parts[name], 0) / wall
		total += c
		out = append(out, fmt.Sprintf("%s %.2f", name, c))
	}
	return fmt.Sprintf("%.2f cores (%s); the machine as a whole was busy %.2f cores",
		total, strings.Join(out, ", "), max(b.busy-a.busy, 0)/wall)
}
