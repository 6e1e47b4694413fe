package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// UnsafePathError says a state directory, or something in it, could be
// changed by a user other than the one running krbfarm. Such a user could
// plant the CA a browser is told to trust (and keep its key), replace a
// keytab, or edit the env file that users source. krbfarm refuses it, as
// ssh refuses a ~/.ssh that others can write.
type UnsafePathError struct {
	StateDir string      // the state directory being checked
	Path     string      // the offending folder or file
	UID      int         // its owner
	Mode     fs.FileMode // its mode, type bits included
	Reason   string      // "owned by another user", "writable by group or others", "a symbolic link"
	Parent   bool        // Path is a folder above the state directory
}

func (e *UnsafePathError) Error() string {
	me := os.Geteuid()
	return fmt.Sprintf("refusing state dir %s: %s is %s (owner %s, mode %s; you are %s)\n"+
		"  Another user could plant a CA, keys or the env file you source there.\n"+
		"  Fix: %s\n"+
		"  Or start a farm in a fresh one: --state \"$(mktemp -d)\"",
		e.StateDir, e.Path, e.Reason, userName(e.UID), e.Mode, userName(me), e.fix(me))
}

// fix is the command that makes the path safe, when it is the user's to fix.
func (e *UnsafePathError) fix(me int) string {
	switch {
	case e.Parent && e.UID != me:
		return fmt.Sprintf("keep the state in a folder whose parents only you or root can change (%s belongs to %s).", e.Path, userName(e.UID))
	case e.Parent:
		return fmt.Sprintf("chmod go-w %s (or chmod +t %s, as /tmp is), or keep the state elsewhere.", e.Path, e.Path)
	case e.Mode&fs.ModeSymlink != 0:
		return fmt.Sprintf("remove the link %s (krbfarm makes no links in its state).", e.Path)
	case e.UID != me:
		return fmt.Sprintf("if you did not make %s, do not use it; if it is yours: chown -R %d %s && chmod -R go-w %s && chmod 700 %s",
			e.StateDir, me, e.StateDir, e.StateDir, e.StateDir)
	default:
		return fmt.Sprintf("chmod -R go-w %s && chmod 700 %s", e.StateDir, e.StateDir)
	}
}

// userName is "name (uid N)", or "uid N" when the name is unknown.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// SecureStateDir checks that dir and everything in it belong to the user
// running krbfarm and cannot be written by group or others, and that it
// holds no symbolic links. It returns dir as an absolute path with any
// links in the path itself resolved, so a link an attacker controls cannot
// be re-pointed after the check. Every entry point that takes a state dir
// (Start, ReadInfo and so OpenAdmin) calls it before reading or writing.
//
// The folders above dir are checked too, as ssh checks those above
// ~/.ssh: each must belong to the user or root, and one that group or
// others may write must be sticky (as /tmp is), or another user could
// rename dir away and put their own in its place.
func SecureStateDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("state dir: %w", err)
	}
	me := os.Geteuid()
	if err := checkParents(real, me); err != nil {
		return "", err
	}
	err = filepath.WalkDir(real, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path != real {
			return nil // a temporary file a running farm just renamed
		}
		if err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		return checkOwned(real, path, me)
	})
	return real, err
}

// checkOwned refuses path (Lstat: a link is refused, not followed) unless
// uid me owns it and neither group nor others may write it.
func checkOwned(stateDir, path string, me int) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) && path != stateDir {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	uid := me
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	bad := &UnsafePathError{StateDir: stateDir, Path: path, UID: uid, Mode: fi.Mode()}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		bad.Reason = "a symbolic link"
	case uid != me:
		bad.Reason = "owned by another user"
	case fi.Mode().Perm()&0o022 != 0:
		bad.Reason = "writable by group or others"
	default:
		return nil
	}
	return bad
}

// checkParents refuses stateDir when a folder above it could let another
// user replace it: one owned by a user other than me or root, or one
// that group or others may write and that is not sticky.
func checkParents(stateDir string, me int) error {
	for p := filepath.Dir(stateDir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p) // EvalSymlinks left no link in the path
		if err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		uid := me
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid = int(st.Uid)
		}
		bad := &UnsafePathError{StateDir: stateDir, Path: p, UID: uid, Mode: fi.Mode(), Parent: true}
		switch {
		case uid != me && uid != 0:
			bad.Reason = "a parent folder owned by another user"
			return bad
		case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0:
			bad.Reason = "a parent folder writable by group or others, and not sticky"
			return bad
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
