//go:build !linux

package host

import (
	"os"
	"os/exec"
)

// command executes the path: only Linux lets a child execute an inherited
// descriptor through os/exec (/proc/self/fd), see exe_linux.go.
func (e *executable) command(args []string) (*exec.Cmd, error) { return e.pathCommand(args) }

// changeTime is not compared where it is not portable; size, mtime and
// inode still are.
func changeTime(os.FileInfo) struct{} { return struct{}{} }
