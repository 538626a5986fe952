//go:build linux

package host

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRunsTheCheckedFile: the file whose sha256 was checked is the file
// that runs, whatever $PATH holds and whatever happens to the path between
// the check and the start. The impostor is a script that leaves a mark if
// it ever runs.
func TestRunsTheCheckedFile(t *testing.T) {
	orig, err := os.ReadFile(bins["testplugin"])
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(orig)
	sum := hex.EncodeToString(s[:])

	for _, tc := range []struct {
		name       string
		inCwd      bool                                    // ./tp is the checked plugin
		beforeExec func(t *testing.T, tp, impostor string) // between check and start
		wantErr    []string                                // empty: must start, from ./tp as checked
	}{
		{name: "bare name runs ./NAME, not the one earlier in $PATH", inCwd: true},
		{name: "bare name only in $PATH is refused", wantErr: []string{
			"no such file or directory", "$PATH is not searched", "to run "}},
		// The rename unlinks the checked inode, which moves its ctime: the
		// start is retried and the retry checks the file now at the path.
		{name: "file renamed over after the check is not run", inCwd: true,
			beforeExec: func(t *testing.T, tp, impostor string) {
				if err := os.Rename(copyFile(t, impostor, tp+".new"), tp); err != nil {
					t.Error(err)
				}
			},
			wantErr: []string{"refusing to run", "expects " + sum}},
		{name: "file written in place after the check is refused", inCwd: true,
			beforeExec: func(t *testing.T, tp, _ string) {
				f, err := os.OpenFile(tp, os.O_WRONLY|os.O_APPEND, 0)
				if err == nil {
					_, err = f.WriteString("tampered")
					err = errors.Join(err, f.Close())
				}
				if err != nil {
					t.Error(err)
				}
			},
			// The start is retried once the write is seen; the retry's
			// checksum no longer matches, which is final.
			wantErr: []string{"refusing to run", "expects " + sum}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cwd, pathDir := t.TempDir(), t.TempDir()
			t.Chdir(cwd)
			mark := filepath.Join(t.TempDir(), "impostor-ran")
			impostor := filepath.Join(pathDir, "tp")
			script := fmt.Sprintf("#!/bin/sh\ntouch %q\nexit 3\n", mark)
			if err := os.WriteFile(impostor, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", pathDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			tp := filepath.Join(cwd, "tp")
			var checked os.FileInfo
			if tc.inCwd {
				checked, err = os.Stat(copyFile(t, bins["testplugin"], tp))
				if err != nil {
					t.Fatal(err)
				}
			}

			p, met := start(t, Config{Name: "tp", Path: "tp", SHA256: sum})
			if tc.beforeExec != nil {
				// Once: the hook must not fire again on a retry.
				p.beforeExec = sync.OnceFunc(func() { tc.beforeExec(t, tp, impostor) })
			}
			err := p.Start(ctx(t))
			if _, serr := os.Stat(mark); serr == nil {
				t.Error("the impostor ran")
			}
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("started; want a refusal")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				if n := testutil.ToFloat64(met.starts.WithLabelValues("tp")); n != 0 {
					t.Errorf("%v processes started", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			running, err := os.Stat(fmt.Sprintf("/proc/%d/exe", p.Pid()))
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(running, checked) {
				t.Errorf("the running process is not the checked file %s", tp)
			}
			if _, err := p.Transformer().Transform(ctx(t), "src", events(2)); err != nil {
				t.Errorf("transform through the started plugin: %v", err)
			}
		})
	}
}

// copyFile copies src to dst as an executable and returns dst.
func copyFile(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err == nil {
		err = os.WriteFile(dst, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestCommandRunsTheOpenedFile: the command built from a checked file runs
// that file even when another one was renamed over its path after the
// check and no ctime check stands in between.
func TestCommandRunsTheOpenedFile(t *testing.T) {
	dir := t.TempDir()
	tp := copyFile(t, bins["testplugin"], filepath.Join(dir, "tp"))
	mark := filepath.Join(dir, "impostor-ran")
	impostor := filepath.Join(dir, "impostor")
	if err := os.WriteFile(impostor, []byte(fmt.Sprintf("#!/bin/sh\ntouch %q\n", mark)), 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := openExecutable(tp, tp, "")
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	if err := os.Rename(impostor, tp); err != nil {
		t.Fatal(err)
	}
	cmd, err := exe.command(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Without go-plugin's handshake variables a plugin says what it is and
	// exits 1; the impostor would exit 0 and leave its mark.
	out, err := cmd.CombinedOutput()
	if _, serr := os.Stat(mark); serr == nil {
		t.Fatal("the file renamed over the checked one ran")
	}
	if err == nil || !strings.Contains(string(out), "plugin") {
		t.Errorf("checked plugin did not run: err %v, output %q", err, out)
	}
}
