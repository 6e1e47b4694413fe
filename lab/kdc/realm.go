package kdc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/krbfarm/krbfarm/lab/proc"
)

// Realm is an MIT Kerberos realm provisioned in a directory: its database,
// kdc.conf, a client krb5.conf, and a krb5kdc process on a loopback port.
type Realm struct {
	Name   string // e.g. KRBFARM.LOCALHOST
	Dir    string // holds the database, stash, kdc.conf, krb5.conf, kdc.log
	Domain string // DNS domain mapped to the realm, e.g. krbfarm.localhost
	Port   int    // KDC port on 127.0.0.1 (TCP and UDP)
	// KDCAddr is, for a KDC the lab does not run (External), its host:port;
	// "" = the lab's own on 127.0.0.1:Port.
	KDCAddr  string
	KDCConf  string // path of kdc.conf (KRB5_KDC_PROFILE)
	Krb5Conf string // path of the client krb5.conf (KRB5_CONFIG)
	LogPath  string // the KDC's log

	Tools *Tools // the krb5 programs it runs (FindTools)
	// Admin runs its kadmin requests; nil = kadmin.local on the database
	// in Dir. A RemoteKadmin administers a KDC someone else runs.
	Admin Runner

	kdc *proc.Process
	// changes counts the kadmin requests that change the database, so a
	// snapshot knows whether it has anything to restore.
	changes atomic.Int64
	// created lists the principals this Realm added, in order, so that a
	// Restore deletes those added since its Snapshot and nothing else.
	mu      sync.Mutex
	created []string
}

const kdcConfTmpl = `# Written by krbfarm: the lab KDC's configuration.
[kdcdefaults]
 kdc_listen = 127.0.0.1:{{.Port}}
 kdc_tcp_listen = 127.0.0.1:{{.Port}}
 spake_preauth_kdc_challenge = edwards25519

[realms]
 {{.Name}} = {
  database_name = {{.Dir}}/principal
  key_stash_file = {{.Dir}}/stash
  acl_file = {{.Dir}}/kadm5.acl
  max_life = 10h 0m 0s
  max_renewable_life = 7d 0h 0m 0s
  default_principal_flags = +preauth
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
 }

[logging]
 kdc = FILE:{{.Dir}}/kdc.log
`

const krb5ConfTmpl = `# Written by krbfarm: use it with  export KRB5_CONFIG={{.Krb5Conf}}
[libdefaults]
 default_realm = {{.Name}}
 dns_lookup_kdc = false
 dns_lookup_realm = false
 dns_canonicalize_hostname = false
 rdns = false
 udp_preference_limit = 1
 forwardable = true
 default_ccache_name = FILE:{{.Dir}}/ccache

[realms]
 {{.Name}} = {
  kdc = {{.Addr}}
  admin_server = {{.AdminServer}}
 }

[domain_realm]
 .{{.Domain}} = {{.Name}}
 {{.Domain}} = {{.Name}}
`

// Provision writes the realm's configuration and creates its database
// in r.Dir, which it empties first: a realm is cheap to make and a fresh one
// is predictable.
func Provision(ctx context.Context, r *Realm, masterPassword string) error {
	if err := os.RemoveAll(r.Dir); err != nil {
		return fmt.Errorf("clear realm dir: %w", err)
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return fmt.Errorf("create realm dir: %w", err)
	}
	r.KDCConf = filepath.Join(r.Dir, "kdc.conf")
	r.Krb5Conf = filepath.Join(r.Dir, "krb5.conf")
	r.LogPath = filepath.Join(r.Dir, "kdc.log")
	if err := r.writeConf(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "kadm5.acl"), []byte("*/admin@"+r.Name+" *\n"), 0o600); err != nil {
		return err
	}
	_, err := r.run(ctx, r.Tools.DBUtil, nil, "create", "-s", "-r", r.Name, "-P", masterPassword, "-W")
	return err
}

// Addr is the KDC's host:port.
func (r *Realm) Addr() string {
	if r.KDCAddr != "" {
		return r.KDCAddr
	}
	return fmt.Sprintf("127.0.0.1:%d", r.Port)
}

// AdminServer is kadmind's host:port: the RemoteKadmin's, else the KDC's
// address (the lab's own realm has no kadmind; krb5.conf names one anyway).
func (r *Realm) AdminServer() string {
	if k, ok := r.Admin.(*RemoteKadmin); ok {
		return k.Addr
	}
	return r.Addr()
}

// External is a realm whose KDC someone else runs at addr (host:port): the
// lab writes only a client krb5.conf for it in dir, and never runs
// kadmin.local, kdb5_util or krb5kdc on it. admin, if not nil, is the
// remote kadmin with which the lab may change it.
func External(name, dir, domain, addr string, admin *RemoteKadmin) (*Realm, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create realm dir: %w", err)
	}
	r := &Realm{Name: name, Dir: dir, Domain: domain, KDCAddr: addr, Krb5Conf: filepath.Join(dir, "krb5.conf")}
	if admin != nil {
		r.Admin = admin
	}
	return r, r.writeFile(r.Krb5Conf, krb5ConfTmpl)
}

// IsExternal reports a realm whose KDC the lab does not run.
func (r *Realm) IsExternal() bool { return r.KDCAddr != "" }

func (r *Realm) writeConf() error {
	for path, text := range map[string]string{r.KDCConf: kdcConfTmpl, r.Krb5Conf: krb5ConfTmpl} {
		if err := r.writeFile(path, text); err != nil {
			return err
		}
	}
	return nil
}

func (r *Realm) writeFile(path, tmpl string) error {
	var b bytes.Buffer
	if err := template.Must(template.New("").Parse(tmpl)).Execute(&b, r); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// env is the environment the krb5 programs run with: only this realm's files.
func (r *Realm) env() []string {
	return append(os.Environ(),
		"KRB5_CONFIG="+r.Krb5Conf,
		"KRB5_KDC_PROFILE="+r.KDCConf,
		"KRB5CCNAME=FILE:"+filepath.Join(r.Dir, "ccache"),
	)
}

// run runs a krb5 program to completion, with stdin if given, and returns
// its combined output; a failure quotes that output.
func (r *Realm) run(ctx context.Context, prog string, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = r.env()
	cmd.Dir = r.Dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(prog), args[0], err, indent(string(out)))
	}
	return string(out), nil
}

// Start runs krb5kdc in the foreground (-n) and waits for its "starting..."
// line, as MIT's own test harness does, instead of sleeping.
func (r *Realm) Start(ctx context.Context) error {
	cmd := exec.Command(r.Tools.KDC, "-n", "-r", r.Name)
	cmd.Env = r.env()
	cmd.Dir = r.Dir
	p, err := proc.Start("krb5kdc", cmd, filepath.Join(r.Dir, "krb5kdc.out"), "starting...")
	if err != nil {
		return err
	}
	if err := p.WaitReady(ctx, 10*time.Second); err != nil {
		p.Stop(time.Second)
		return fmt.Errorf("KDC failed to start on 127.0.0.1:%d: %w\nKDC log %s:\n%s", r.Port, err, r.LogPath, proc.TailFile(r.LogPath, 8))
	}
	r.kdc = p
	return nil
}

// PID is the KDC's process ID, or 0 when it is not running.
func (r *Realm) PID() int {
	if r.kdc == nil {
		return 0
	}
	return r.kdc.PID()
}

// NotifyExit calls fn if the KDC ends without Stop, quoting kdc.log,
// where krb5kdc writes what it has to say (its own output holds little).
// Call it after Start; see proc.Process.NotifyExit.
func (r *Realm) NotifyExit(fn func(proc.Exit)) {
	r.kdc.NotifyExit(func(ex proc.Exit) {
		ex.LogPath, ex.Tail = r.LogPath, proc.TailFile(r.LogPath, proc.TailLines)
		fn(ex)
	})
}

// SyncedPath holds a fingerprint of the keys the directory last gave each
// principal (0600, beside the database; a Snapshot restores it with it).
func (r *Realm) SyncedPath() string { return filepath.Join(r.Dir, "synced.json") }

// Stop ends the KDC. Safe to call more than once.
func (r *Realm) Stop() error {
	if r.kdc == nil {
		return nil
	}
	return r.kdc.Stop(3 * time.Second)
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
