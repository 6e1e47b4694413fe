package kdc

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
)

// Runner starts the program that carries out one kadmin request. Realm.Kadmin
// does the rest the same way whatever the Runner: the request's quoting and
// validation before it, the positive check of its output after.
type Runner interface {
	// Command is the process running request line (one libss line, already
	// quoted) against r; Realm.Kadmin sets its environment and output.
	Command(ctx context.Context, r *Realm, line string) *exec.Cmd
	// Program names it in errors: "kadmin.local" or "kadmin -s HOST:PORT".
	Program() string
	// Local reports one that opens the database itself (kdb5_util can then
	// dump and load it; see Snapshot).
	Local() bool
}

// LocalKadmin runs kadmin.local on the realm's own database: the lab's
// provisioned realm. A Realm with no Admin uses it.
type LocalKadmin struct{ Path string }

func (l LocalKadmin) Command(ctx context.Context, r *Realm, line string) *exec.Cmd {
	return exec.CommandContext(ctx, l.Path, "-r", r.Name, "-q", line)
}

func (LocalKadmin) Program() string { return "kadmin.local" }
func (LocalKadmin) Local() bool     { return true }

// RemoteKadmin runs MIT's remote kadmin client (Debian krb5-user) against a
// kadmind someone else runs, authenticating as Principal:
//
//	kadmin -r REALM -s HOST:PORT -p PRINCIPAL -q REQUEST
//
// Password reaches kadmin on its standard input, where it reads the
// password prompt's answer: never on a command line, in the environment or
// in a log. Each request authenticates afresh (one AS exchange for
// kadmin/admin); the principal needs the kadm5.acl rights for what the lab
// does (add, delete, modify, change password, list, inquire: "*" covers
// them). ktadd is never used: the lab derives every key it hands out from
// the password it set.
type RemoteKadmin struct {
	Path      string // the kadmin client
	Addr      string // kadmind's host:port
	Principal string // e.g. admin/admin@REALM
	Password  string // never logged
}

func (k *RemoteKadmin) Command(ctx context.Context, r *Realm, line string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.Path, "-r", r.Name, "-s", k.Addr, "-p", k.Principal, "-q", line)
	cmd.Stdin = strings.NewReader(k.Password + "\n")
	return cmd
}

func (k *RemoteKadmin) Program() string { return "kadmin -s " + k.Addr }
func (*RemoteKadmin) Local() bool       { return false }

// Check says what is wrong with k's fields, each named as the config does.
func (k *RemoteKadmin) Check(realm string) error {
	if host, port, err := net.SplitHostPort(k.Addr); err != nil || host == "" || port == "" {
		return fmt.Errorf("kadmin %q: use host:port of your kadmind, e.g. 127.0.0.1:749", k.Addr)
	}
	name, at, _ := strings.Cut(k.Principal, "@")
	if at != "" && at != realm {
		return fmt.Errorf("admin %q: a principal of realm %s", k.Principal, realm)
	}
	if err := CheckPrincipal("admin", name); err != nil {
		return err
	}
	if k.Password == "" {
		return fmt.Errorf("admin password: required with kadmin (the CLI reads it from KRBFARM_ADMIN_PASSWORD)")
	}
	return CheckPassword("admin password", k.Password)
}

// FindKadminClient finds MIT's remote kadmin client (krb5-user).
func FindKadminClient(path string) (string, error) {
	dirs := searchPath(path)
	if p := lookIn(dirs, "kadmin"); p != "" {
		return p, nil
	}
	return "", &MissingToolsError{Missing: []string{"kadmin"}, Packages: []string{"krb5-user"}, Searched: strings.Join(dirs, ":")}
}

// runner is the realm's Runner: Admin, else kadmin.local.
func (r *Realm) runner() Runner {
	if r.Admin != nil {
		return r.Admin
	}
	path := ""
	if r.Tools != nil {
		path = r.Tools.Kadmin
	}
	return LocalKadmin{Path: path}
}

// Administered reports a realm the lab can change: its own, or one whose
// kadmind it has admin rights on (Admin set).
func (r *Realm) Administered() bool { return !r.IsExternal() || r.Admin != nil }
