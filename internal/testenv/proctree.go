package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killTree SIGKILLs pid and all its descendants and waits until none of
// them is alive. Killing the process group is not enough: PostgreSQL
// backends call setsid(), and a restarted postmaster refuses to start while
// orphaned backends still hold the old shared memory.
func killTree(pid int, timeout time.Duration) error {
	// Freeze the root first so it cannot fork while we collect its tree.
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	procs, err := listProcs()
	if err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return err
	}
	victims := descendants(procs, pid)
	for _, v := range victims {
		_ = syscall.Kill(v, syscall.SIGKILL)
	}
	// Also the group: covers anything forked by a child in the meantime
	// that stayed in the server's process group.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return waitGone(victims, timeout)
}

// waitGone polls until none of pids is a live (non-zombie) process.
// Zombies are fine: they hold no memory, and whoever inherited them may
// never reap them.
func waitGone(pids []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var alive []int
		for _, pid := range pids {
			if st, ok := readProc(pid); ok && st.live() {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still alive %s after SIGKILL", alive, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type procStat struct {
	pid, ppid, pgrp int
	state           string
}

func (s procStat) live() bool { return s.state != "Z" && s.state != "X" }

// descendants returns root and every process below it.
func descendants(procs []procStat, root int) []int {
	children := make(map[int][]int, len(procs))
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

func listProcs() ([]procStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	procs := make([]procStat, 0, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readProc(pid); ok {
			procs = append(procs, st)
		}
	}
	return procs, nil
}

// readProc parses /proc/PID/stat; ok is false when the process is gone.
func readProc(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	st, err := parseStat(b)
	if err != nil {
		return procStat{}, false
	}
	return st, true
}

// parseStat reads "pid (comm) state ppid pgrp ...". comm may contain
// spaces and parentheses, so the fields are taken after the last ')'.
func parseStat(b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return procStat{}, errors.New("malformed stat line")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return procStat{}, fmt.Errorf("parse pid: %w", err)
	}
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 3 {
		return procStat{}, errors.New("short stat line")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("parse ppid: %w", err)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("parse pgrp: %w", err)
	}
	return procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0]}, nil
}
