package kdc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/krbfarm/krbfarm/lab/internal/fsutil"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// How krbfarm talks to kadmin.local, by construction free of injection:
//
//   - One process per request, `kadmin.local -r REALM -q REQUEST`: the
//     request is one argv string, never a line of a stdin script, so no
//     newline can start a second request (ss_parse splits only on space and
//     tab) and its exit status and output belong to that request alone.
//   - Every argument is quoted as the ss library's parser reads quotes
//     (libss, src/util/ss/parse.c in MIT krb5 and e2fsprogs): inside "...",
//     "" is one literal quote and nothing else is special (no backslash
//     escapes). The request therefore starts with '"', so ss_execute_line
//     never sees the '!' that hands a line to system().
//   - Arguments holding control characters are refused before any process
//     starts; names and passwords were checked against AD's and MIT's rules
//     where they entered (names.go).
//   - kadmin.local exits 0 after most failures, so success is positive: no
//     stderr line but the "No policy specified" notice, and for each change
//     the line that confirms it (Principal "x@R" created.).

// KadminError is a kadmin request that failed.
type KadminError struct {
	Program string // kadmin.local, or kadmin -s HOST:PORT ("" = kadmin.local)
	Request string // the request, passwords masked
	Output  string // what kadmin said (stderr, else stdout)
	Err     error  // the process's error, if it failed to run or exited non-zero
}

func (e *KadminError) Error() string {
	prog := e.Program
	if prog == "" {
		prog = "kadmin.local"
	}
	msg := fmt.Sprintf("%s %s: %s", prog, e.Request, strings.TrimSpace(e.Output))
	if e.Err != nil {
		msg += fmt.Sprintf(" (%v)", e.Err)
	}
	return msg
}

func (e *KadminError) Unwrap() error { return e.Err }

// kadminQuote quotes one argument for libss: "a ""b""" is a "b".
func kadminQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// kadminRequest is args as one request line, and as shown in errors
// (the argument after -pw masked).
func kadminRequest(args []string) (line, shown string, err error) {
	var q, s []string
	for i, a := range args {
		if why := textProblem(a); why != "" && a != "" {
			return "", "", fmt.Errorf("kadmin %s: argument %d %s: refused", args[0], i, why)
		}
		q = append(q, kadminQuote(a))
		if i > 0 && args[i-1] == "-pw" {
			a = "********"
		}
		s = append(s, a)
	}
	return strings.Join(q, " "), strings.Join(s, " "), nil
}

// Kadmin runs one kadmin request, given as its arguments (the request
// name first, e.g. "getprinc", "alice"), with the realm's Runner
// (kadmin.local on the lab's database, or the remote kadmin client against
// a kadmind), and returns its standard output. Each argument reaches
// kadmin as exactly one argument, whatever it holds; one holding a
// control character is refused. Any error kadmin reports fails it.
func (r *Realm) Kadmin(ctx context.Context, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("kadmin: no request")
	}
	if err := CheckRealm("realm", r.Name); err != nil {
		return "", err
	}
	line, shown, err := kadminRequest(args)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	run := r.runner()
	cmd := run.Command(ctx, r, line)
	cmd.Env, cmd.Dir = r.env(), r.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if complaint := kadminComplaint(stderr.String()); err != nil || complaint != "" {
		return stdout.String(), &KadminError{Program: run.Program(), Request: shown, Output: firstNonEmpty(complaint, stderr.String(), stdout.String()), Err: err}
	}
	return stdout.String(), nil
}

// kadminComplaint returns stderr's lines less the notices kadmin.local
// prints on success.
func kadminComplaint(stderr string) string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "No policy specified for ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return "(no output)"
}

// kadminChange runs a request that changes principal and requires the
// line confirming it, e.g. `Principal "bob@R" created.`
func (r *Realm) kadminChange(ctx context.Context, principal, confirm string, args ...string) error {
	if err := CheckPrincipal("principal", principal); err != nil {
		return err
	}
	r.changes.Add(1)
	out, err := r.Kadmin(ctx, args...)
	if err != nil {
		return err
	}
	want := fmt.Sprintf(confirm, principal+"@"+r.Name)
	if !strings.Contains(out, want) {
		_, shown, _ := kadminRequest(args)
		return &KadminError{Program: r.runner().Program(), Request: shown, Output: "no confirmation " + strconv.Quote(want) + " in: " + strings.TrimSpace(out)}
	}
	return nil
}

// AddPrincipal creates name with a key derived from password.
func (r *Realm) AddPrincipal(ctx context.Context, name, password string) error {
	return r.AddPrincipalKeys(ctx, name, password, nil, 0)
}

// addPrincipal creates name with keys of enctypes (nil = the realm's) at
// kvno (0 = 1) from password.
func (r *Realm) AddPrincipalKeys(ctx context.Context, name, password string, enctypes []string, kvno int) error {
	if err := CheckPassword("password", password); err != nil {
		return err
	}
	args := []string{"addprinc"}
	if kvno > 0 {
		args = append(args, "-kvno", strconv.Itoa(kvno))
	}
	if len(enctypes) > 0 {
		args = append(args, "-e", keySalts(enctypes))
	}
	args = append(args, "-pw", password, name)
	if err := r.kadminChange(ctx, name, `Principal "%s" created.`, args...); err != nil {
		return err
	}
	r.mu.Lock()
	r.created = append(r.created, name)
	r.mu.Unlock()
	return nil
}

// changePassword gives name new keys of enctypes (nil = the realm's) from
// password; the KDC adds 1 to its kvno.
func (r *Realm) ChangePassword(ctx context.Context, name, password string, enctypes []string) error {
	if err := CheckPassword("password", password); err != nil {
		return err
	}
	args := []string{"cpw"}
	if len(enctypes) > 0 {
		args = append(args, "-e", keySalts(enctypes))
	}
	args = append(args, "-pw", password, name)
	return r.kadminChange(ctx, name, `Password for "%s" changed.`, args...)
}

func (r *Realm) SetKVNO(ctx context.Context, name string, kvno int) error {
	return r.kadminChange(ctx, name, `Principal "%s" modified.`, "modprinc", "-kvno", strconv.Itoa(kvno), name)
}

func (r *Realm) DeletePrincipal(ctx context.Context, name string) error {
	return r.kadminChange(ctx, name, `Principal "%s" deleted.`, "delprinc", "-force", name)
}

// SystemPrincipal reports the KDC's own principals (krbtgt/, kadmin/,
// K/M, kiprop/), which the lab never changes.
func SystemPrincipal(name string) bool {
	for _, p := range []string{"krbtgt/", "kadmin/", "K/M", "kiprop/"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Principals lists the realm's principals, without the @REALM.
func (r *Realm) Principals(ctx context.Context) ([]string, error) {
	out, err := r.Kadmin(ctx, "listprincs")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		p := strings.TrimSpace(line)
		if strings.ContainsAny(p, " \t") || !strings.HasSuffix(p, "@"+r.Name) {
			continue // the "Authenticating as principal ..." banner
		}
		names = append(names, strings.TrimSuffix(p, "@"+r.Name))
	}
	return names, nil
}

// ExportKeytab writes the current keys of the principals to path (mode
// 0600) without changing them, as ktpass or a keytab handed to each host.
// Only on a local database: remote ktadd would give them new random keys.
func (r *Realm) ExportKeytab(ctx context.Context, path string, principals ...string) error {
	if !r.runner().Local() {
		return fmt.Errorf("export keytab: ktadd -norandkey needs kadmin.local; over kadmind it would re-randomise the keys")
	}
	os.Remove(path) // ktadd appends; a keytab is written whole here
	for _, p := range principals {
		if err := CheckPrincipal("principal", p); err != nil {
			return err
		}
		out, err := r.Kadmin(ctx, "ktadd", "-norandkey", "-k", path, p)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "Entry for principal "+p+" ") {
			return &KadminError{Program: r.runner().Program(), Request: "ktadd -norandkey -k " + path + " " + p, Output: "no key exported: " + strings.TrimSpace(out)}
		}
	}
	return os.Chmod(path, 0o600)
}

// Snapshot is what a failed change needs to be undone. On a realm with a
// local database it is a dump of the principals the lab may change, to put
// them back: only they are dumped and loaded back (kdb5_util load -update),
// so a principal someone else made or changed meanwhile with kadmin is
// left as it is.
//
// On a realm administered through kadmind (RemoteKadmin) there is no
// kdb5_util: Restore undoes only what has an inverse, deleting the
// principals this Realm added since (delprinc for addprinc). Old keys
// cannot be read back over kadmin, so a cpw or modprinc is not undone
// here, and synced.json is left saying what the KDC now holds: the caller
// re-applies the old state (lab.Admin re-syncs the old directory, whose
// keys derive from passwords it knows).
type Snapshot struct {
	r       *Realm
	dir     string // "" = no dump (remote)
	changes int64  // r.changes when taken
	created int    // len(r.created) when taken
	synced  []byte // synced.json when taken; nil = none
}

// Snapshot dumps principals (names without @REALM; one that does not exist
// is skipped by kdb5_util) to a file (0600) in the realm's dir; on a
// remote realm it only notes what was added so far.
func (r *Realm) Snapshot(ctx context.Context, principals ...string) (*Snapshot, error) {
	r.mu.Lock()
	s := &Snapshot{r: r, changes: r.changes.Load(), created: len(r.created)}
	r.mu.Unlock()
	if !r.runner().Local() {
		return s, nil
	}
	dir, err := os.MkdirTemp(r.Dir, "snapshot-")
	if err != nil {
		return nil, fmt.Errorf("KDC snapshot: %w", err)
	}
	s.dir = dir
	s.synced, _ = os.ReadFile(r.SyncedPath())
	args := []string{"-r", r.Name, "dump", s.file()}
	for _, p := range principals {
		args = append(args, p+"@"+r.Name)
	}
	if _, err := r.run(ctx, r.Tools.DBUtil, nil, args...); err != nil {
		s.Discard()
		return nil, fmt.Errorf("KDC snapshot: %w", err)
	}
	return s, nil
}

func (s *Snapshot) file() string { return filepath.Join(s.dir, "kdb.dump") }

// Restore deletes the principals this Realm added since the snapshot and
// loads the dumped ones back over the database (kdb5_util load -update,
// which krb5kdc sees at its next request), unless no change was requested
// since; then it discards the dump. On a remote realm it only deletes.
func (s *Snapshot) Restore(ctx context.Context) error {
	defer s.Discard()
	if s.r.changes.Load() == s.changes {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	s.r.mu.Lock()
	added := slices.Clone(s.r.created[s.created:])
	s.r.mu.Unlock()
	var errs []error
	for _, p := range slices.Backward(added) {
		if _, err := s.r.Kadmin(ctx, "delprinc", "-force", p); err != nil {
			errs = append(errs, err)
		}
	}
	if s.dir == "" {
		if len(errs) > 0 {
			return fmt.Errorf("KDC restore (delete what was added): %w", errors.Join(errs...))
		}
		return nil
	}
	if _, err := s.r.run(ctx, s.r.Tools.DBUtil, nil, "-r", s.r.Name, "load", "-update", s.file()); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("KDC restore from snapshot: %w", errors.Join(errs...))
	}
	if s.synced == nil {
		return ignoreNotExist(os.Remove(s.r.SyncedPath()))
	}
	return fsutil.WriteAtomic(s.r.SyncedPath(), s.synced, 0o600)
}

func (s *Snapshot) Discard() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// keySalts is kadmin's -e list for enctypes (MIT names), normal salt.
func keySalts(es []string) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, e+":normal")
	}
	return strings.Join(parts, ",")
}
