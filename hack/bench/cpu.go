package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

// cpuSample is CPU seconds per process group: each vigil process by
// name, "postgres" (every postgres process), "rabbitmq" (beam.smp) and
// "harness" (this process: the target server and the measuring).
type cpuSample map[string]float64

func sampleCPU(procs []*proc) cpuSample {
	s := cpuSample{}
	for _, p := range procs {
		s[p.name] = procCPU(p.cmd.Process.Pid)
	}
	s["harness"] = procCPU(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		switch name := strings.TrimSpace(string(comm)); {
		case strings.HasPrefix(name, "postgres"):
			s["postgres"] += procCPU(pid)
		case name == "beam.smp":
			s["rabbitmq"] += procCPU(pid)
		}
	}
	return s
}

// procCPU is utime+stime of pid in seconds (0 when it is gone).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields of the line.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
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
