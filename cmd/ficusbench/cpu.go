package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is USER_HZ, 100 on every Linux platform Go supports.
const clockTick = 10 * time.Millisecond

// treeCPU is the user+system CPU time used so far by pid and its direct
// children (nginx's workers). CPU per request is the figure that stays
// meaningful on a shared, noisy machine where req/s swings with others' load.
func treeCPU(pid int) (time.Duration, error) {
	total, _, err := statCPU(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		cpu, ppid, err := statCPU(p)
		if err == nil && ppid == pid {
			total += cpu
		}
	}
	return total, nil
}

// statCPU parses utime, stime and ppid from a /proc/PID/stat file.
func statCPU(path string) (cpu time.Duration, ppid int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	// The command name may contain spaces; fields start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse %s", path)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("parse %s: %d fields", path, len(f))
	}
	ppid, _ = strconv.Atoi(string(f[1]))
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("parse %s: cpu fields", path)
	}
	return time.Duration(ut+st) * clockTick, ppid, nil
}

// cpuMeter measures the CPU a set of processes used during a window.
type cpuMeter struct {
	pids  []int
	start time.Duration
}

func startCPU(children []*child) *cpuMeter {
	m := &cpuMeter{}
	for _, c := range children {
		m.pids = append(m.pids, c.cmd.Process.Pid)
	}
	m.start = m.sum()
	return m
}

func (m *cpuMeter) sum() time.Duration {
	var t time.Duration
	for _, p := range m.pids {
		if d, err := treeCPU(p); err == nil {
			t += d
		}
	}
	return t
}

// perRequest returns µs of CPU per request since startCPU, 0 if unknown.
func (m *cpuMeter) perRequest(requests int64) float64 {
	if len(m.pids) == 0 || requests <= 0 {
		return 0
	}
	return float64((m.sum() - m.start).Microseconds()) / float64(requests)
}
