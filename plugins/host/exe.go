package host

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// resolvePath returns the absolute path of a configured plugin path. A
// relative path, a bare name included, is taken from the working directory
// (the documented meaning of plugins[].path); $PATH is never searched, since
// the checksum and the process must be about one and the same file.
func resolvePath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", p, err)
	}
	return abs, nil
}

// executable is a plugin file opened once per start: the checksum is read
// from the open descriptor and the process is started from that descriptor
// (see command), so renaming another file over the path, or putting one
// earlier in $PATH, cannot change what runs after the check.
type executable struct {
	path string // absolute
	f    *os.File
	at   os.FileInfo // taken before hashing; see unchanged
}

// openExecutable opens path and, when wantSHA256 is set, checks its sha256.
// configured is the path as the user wrote it, for error messages.
func openExecutable(path, configured, wantSHA256 string) (*executable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, notFoundHint(err, configured)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	e := &executable{path: path, f: f, at: fi}
	if wantSHA256 == "" {
		return e, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		e.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, wantSHA256) {
		e.Close()
		return nil, fmt.Errorf("refusing to run %s: its sha256 is %s, the configuration expects %s",
			path, got, strings.ToLower(wantSHA256))
	}
	return e, nil
}

// notFoundHint adds, to a missing bare name that $PATH would have found,
// why it is not used: before, the checksum was read from ./NAME while the
// process came from $PATH, so such configs may exist.
func notFoundHint(err error, configured string) error {
	if !errors.Is(err, fs.ErrNotExist) || strings.ContainsRune(configured, filepath.Separator) {
		return err
	}
	if inPath, lerr := exec.LookPath(configured); lerr == nil {
		return fmt.Errorf("%w (a relative path is taken from the working directory and $PATH is not searched; "+
			"to run %s give its absolute path)", err, inPath)
	}
	return err
}

// unchanged reports an error when the file was written since it was opened:
// the descriptor keeps the checked inode, but a write into that inode would
// change what runs. ctime moves on every write and cannot be set back from
// user space. It also moves when the inode is unlinked, so a file renamed
// over the checked one is reported too, and the next start checks it.
func (e *executable) unchanged() error {
	now, err := e.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", e.path, err)
	}
	if !os.SameFile(e.at, now) || now.Size() != e.at.Size() || !now.ModTime().Equal(e.at.ModTime()) ||
		changeTime(now) != changeTime(e.at) {
		return fmt.Errorf("%s was modified while it was being checked and started", e.path)
	}
	return nil
}

// Close releases the descriptor; the started process keeps its own.
func (e *executable) Close() { _ = e.f.Close() }

// pathCommand executes the absolute path, once it still names the checked
// inode. A rename between this check and execve is not caught: it is the
// fallback where the descriptor cannot be executed.
func (e *executable) pathCommand(args []string) (*exec.Cmd, error) {
	fi, err := os.Stat(e.path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", e.path, err)
	}
	if !os.SameFile(fi, e.at) {
		return nil, fmt.Errorf("%s was replaced while it was being checked and started", e.path)
	}
	cmd := exec.Command(e.path, args...)
	return cmd, nil
}
