//go:build linux

package host

import (
	"os"
	"os/exec"
	"syscall"
)

// command starts the checked file itself. The open descriptor is handed to
// the child as fd 3 (ExtraFiles, so without close-on-exec) and the child
// executes /proc/self/fd/3, which the kernel resolves to the open file, not
// to a name. Executing the absolute path after checking that it still names
// the same inode would leave a window, between that check and execve, in
// which a rename wins; this has none. The costs: the plugin keeps fd 3 (a
// read-only descriptor of its own executable; it also lets a #! script's
// interpreter open the script), and its kernel process name (comm, what top
// shows) is "3"; argv[0], what ps shows, is still the path. Without procfs
// (a bare chroot) it falls back to executing the path.
func (e *executable) command(args []string) (*exec.Cmd, error) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return e.pathCommand(args)
	}
	cmd := exec.Command("/proc/self/fd/3", args...)
	cmd.Args[0] = e.path
	cmd.ExtraFiles = []*os.File{e.f}
	return cmd, nil
}

func changeTime(fi os.FileInfo) syscall.Timespec {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim
	}
	return syscall.Timespec{}
}
