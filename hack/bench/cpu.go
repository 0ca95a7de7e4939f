package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

// cpuSample is CPU seconds per process group: each vigil process by
// name, "postgres" (the postmaster of the server under test and its
// children), "rabbitmq" (the broker's Erlang VM) and "harness" (this
// process: the target server and the measuring).
type cpuSample map[string]float64

// servicePIDs are the root processes of the PostgreSQL and RabbitMQ under
// test, so that other instances on the machine are not counted.
type servicePIDs struct {
	postmaster, broker int
}

func sampleCPU(procs []*proc, svc servicePIDs) cpuSample {
	s := cpuSample{}
	for _, p := range procs {
		s[p.name] = procCPU(p.cmd.Process.Pid)
	}
	s["harness"] = procCPU(os.Getpid())
	s["rabbitmq"] = procCPU(svc.broker)
	s["postgres"] = procCPU(svc.postmaster)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || svc.postmaster == 0 {
			continue
		}
		if parentPID(pid) == svc.postmaster {
			s["postgres"] += procCPU(pid)
		}
	}
	return s
}

// parentPID reads the PPid of pid (0 when it is gone).
func parentPID(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// brokerPID asks rabbitmqctl for the broker's OS process.
func brokerPID() int {
	out, err := exec.Command("rabbitmqctl", "eval", "os:getpid().").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.Trim(strings.TrimSpace(string(out)), `"`))
	return n
}

// procCPU is utime+stime of pid in seconds (0 when it is gone).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields of the line.
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck
}

func sampleRSS(procs []*proc) map[string]float64 {
	out := map[string]float64{}
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status"))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				f := strings.Fields(line)
				kb, _ := strconv.ParseFloat(f[1], 64)
				out[p.name] = kb / 1024
			}
		}
	}
	return out
}

func cpuReport(a, b cpuSample, probes int64) (map[string]float64, float64, map[string]float64) {
	used := map[string]float64{}
	per := map[string]float64{}
	total := 0.0
	for name, v := range b {
		d := max(v-a[name], 0)
		used[name] = d
		total += d
		if probes > 0 {
			per[name] = d / (float64(probes) / 1000)
		}
	}
	perTotal := 0.0
	if probes > 0 {
		perTotal = total / (float64(probes) / 1000)
	}
	return used, perTotal, per
}
