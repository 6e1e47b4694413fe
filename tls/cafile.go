package tlsterm

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// UnsafeCAFileError says an existing CA file was not reused because someone
// other than the user running krbfarm owns it, may write it, or (for the
// key) may read it: that user could mint certificates the CA's trusters
// accept. Delete both files to get a new CA, or fix the owner and mode.
type UnsafeCAFileError struct {
	File   string
	UID    int         // the file's owner
	Mode   fs.FileMode // its mode, type bits included
	Reason string      // e.g. "owned by uid 65534, not by you (uid 0)"
}

func (e *UnsafeCAFileError) Error() string {
	return fmt.Sprintf("refusing to reuse the CA: %s is %s (mode %s): whoever holds the CA key can mint certificates "+
		"that clients trusting this CA accept. Fix: delete the CA's certificate and key to make a new CA, "+
		"or if they are yours: chown %d %s && chmod 600 %s", e.File, e.Reason, e.Mode, os.Geteuid(), e.File, e.File)
}

// checkCAFile refuses file (Lstat: a link is refused, not followed) unless
// it is a regular file this user owns with none of the permission bits in
// forbid set (0o022 for the certificate, 0o077 for the key).
func checkCAFile(file string, forbid fs.FileMode) error {
	fi, err := os.Lstat(file)
	if err != nil {
		return err // *fs.PathError names the file
	}
	me, uid := os.Geteuid(), os.Geteuid()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	bad := &UnsafeCAFileError{File: file, UID: uid, Mode: fi.Mode()}
	switch {
	case !fi.Mode().IsRegular():
		bad.Reason = "not a regular file (a link or a device)"
	case uid != me:
		bad.Reason = fmt.Sprintf("owned by uid %d, not by you (uid %d)", uid, me)
	case fi.Mode().Perm()&forbid != 0:
		bad.Reason = "writable by group or others"
		if forbid&0o044 != 0 {
			bad.Reason = "readable or writable by group or others (a key must be 0600)"
		}
	default:
		return nil
	}
	return bad
}
