package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/krbfarm/krbfarm/lab/internal/fsutil"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
)

// Info describes a running farm; it is what DIR/farm.json holds.
type Info struct {
	Realm    string `json:"realm"`
	FQDN     string `json:"fqdn"`
	SPN      string `json:"spn"`
	URL      string `json:"url"` // the front door, through the LB
	Krb5Conf string `json:"krb5_conf"`
	KDCConf  string `json:"kdc_conf"`
	KDC      string `json:"kdc"` // host:port
	// ExternalKDC is set when the KDC is the user's (Config.KDC): the lab
	// does not administer it, and refuses directory changes.
	ExternalKDC bool `json:"external_kdc,omitempty"`
	// Kadmin and Admin are, on an external KDC the lab administers
	// (Config.Kadmin), its kadmind's host:port and the principal the lab
	// authenticates as; the password is never written here.
	Kadmin    string        `json:"kadmin,omitempty"`
	Admin     string        `json:"admin,omitempty"`
	CACert    string        `json:"ca_cert"`
	LB        LBInfo        `json:"lb"`
	Backends  []BackendInfo `json:"backends"`
	Users     []UserInfo    `json:"users"`
	Service   string        `json:"service_account"`
	StateDir  string        `json:"state_dir"`
	Dashboard string        `json:"dashboard,omitempty"` // the dashboard's URL, "" if none runs
	// Scenario is the catalogue entry the farm was left broken as
	// (krbfarm up --scenario); "" = none. The doctor defaults to its user.
	Scenario string `json:"scenario,omitempty"`
	// Ready is true once the farm answers through the load balancer and,
	// with a scenario, once it has been broken as the scenario says.
	Ready     bool  `json:"ready"`
	PID       int   `json:"pid"`       // the process running the farm
	Processes []int `json:"processes"` // the KDC and hosts it started
}

// LBInfo is the front door in Info.
type LBInfo struct {
	Addr  string `json:"addr"`
	Mode  string `json:"mode"`
	Admin string `json:"admin,omitempty"` // loopback host:port of its /status and /metrics
	Log   string `json:"log,omitempty"`   // its log file, JSON lines
}

// BackendInfo is one host in Info.
type BackendInfo struct {
	Name   string `json:"name"`
	Addr   string `json:"addr"`
	Keytab string `json:"keytab"`
	Log    string `json:"log"`
	Events string `json:"events"` // Windows-like security events, JSON lines (krbfarm events)
	PID    int    `json:"pid"`
}

// EventsPath is where host name writes its events in stateDir.
func EventsPath(stateDir, name string) string {
	return filepath.Join(stateDir, "logs", name+".events.jsonl")
}

// UserInfo is one user in Info. Lab passwords are shown on purpose: this is
// a throwaway realm, and users type them into kinit.
type UserInfo struct {
	Principal string `json:"principal"`
	Password  string `json:"password"`
}

// Info returns the farm's description.
func (f *Farm) Info() Info {
	in := Info{
		Realm: f.Config.Realm, FQDN: f.Config.FQDN, SPN: f.Config.SPN(), URL: f.URL,
		Krb5Conf: f.Realm.Krb5Conf, KDCConf: f.Realm.KDCConf,
		KDC: f.Realm.Addr(), ExternalKDC: f.Realm.IsExternal(),
		CACert: f.CAFile, LB: LBInfo{Addr: f.LBAddr(), Mode: f.Config.LB.Mode, Admin: f.lbAdmin, Log: f.lbLogPath()},
		Service: f.Config.ServiceAccount, StateDir: f.Dir, PID: os.Getpid(), Processes: f.PIDs(),
		Dashboard: f.dashboard, Scenario: f.scenario, Ready: f.ready,
	}
	if k, ok := f.Realm.Admin.(*kdc.RemoteKadmin); ok {
		in.Kadmin, in.Admin = k.Addr, k.Principal
	}
	for _, h := range f.Hosts {
		in.Backends = append(in.Backends, BackendInfo{Name: h.Name, Addr: h.Addr, Keytab: h.Keytab, Log: h.LogPath, Events: EventsPath(f.Dir, h.Name), PID: h.PID()})
	}
	for _, u := range f.Config.Users {
		in.Users = append(in.Users, UserInfo{Principal: u.Name + "@" + f.Config.Realm, Password: u.Password})
	}
	return in
}

// updateInfo applies change (nil: none) and rewrites farm.json, if the
// farm has written it yet and not closed.
func (f *Farm) updateInfo(change func()) error {
	f.infoMu.Lock()
	defer f.infoMu.Unlock()
	if change != nil {
		change()
	}
	if !f.infoLive {
		return nil
	}
	return f.writeInfoLocked()
}

// writeInfoLocked writes DIR/env and then, atomically, DIR/farm.json;
// infoMu is held.
func (f *Farm) writeInfoLocked() error {
	in := f.Info()
	if err := fsutil.WriteAtomic(filepath.Join(f.Dir, "env"), []byte(in.Env()), 0o600); err != nil {
		return err
	}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(filepath.Join(f.Dir, "farm.json"), append(b, '\n'), 0o600)
}

// SetDashboard records the dashboard's URL in farm.json.
func (f *Farm) SetDashboard(url string) error {
	return f.updateInfo(func() { f.dashboard = url })
}

// WithScenario records in farm.json that the farm is to be left broken as
// scenario name. Start then writes farm.json with "ready": false; the
// caller breaks the farm and calls MarkReady.
func WithScenario(name string) Option {
	return func(f *Farm) { f.scenario = name }
}

// MarkReady rewrites farm.json with "ready": true, once a farm started
// WithScenario has been broken as its scenario says.
func (f *Farm) MarkReady() error {
	return f.updateInfo(func() { f.ready = true })
}

// Env is the shell exports a user sources to use the farm.
func (in Info) Env() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# krbfarm: source this file to use the farm from a shell\n")
	fmt.Fprintf(&b, "export KRB5_CONFIG=%s\n", in.Krb5Conf)
	fmt.Fprintf(&b, "export KRBFARM_URL=%s\n", in.URL)
	fmt.Fprintf(&b, "export KRBFARM_CA=%s\n", in.CACert)
	return b.String()
}

// ReadInfo reads the farm.json of a running farm's state directory, after
// checking that no other user can change that directory (SecureStateDir):
// the commands that act on a running farm trust the paths it names.
func ReadInfo(stateDir string) (Info, error) {
	var in Info
	dir, err := SecureStateDir(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return in, fmt.Errorf("no running farm in %s (%w): start one with `krbfarm up --state %s`", stateDir, err, stateDir)
	}
	if err != nil {
		return in, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "farm.json"))
	if err != nil {
		return in, fmt.Errorf("no running farm in %s (%w): start one with `krbfarm up --state %s`", stateDir, err, stateDir)
	}
	return in, json.Unmarshal(b, &in)
}

// krbhttp.New logs user in to the farm's realm and returns a client that
// reaches the front door by the farm's FQDN. "" = the first user.
func (f *Farm) NewClient(user string) (*krbhttp.Client, error) {
	u, err := f.user(user)
	if err != nil {
		return nil, err
	}
	return krbhttp.New(krbhttp.Config{
		Krb5Conf: f.Realm.Krb5Conf, Realm: f.Config.Realm, User: u.Name, Password: u.Password,
		SPN: f.Config.SPN(), CAFile: f.CAFile, DialAddr: f.LBAddr(),
	})
}

func (f *Farm) user(name string) (User, error) {
	for _, u := range f.Config.Users {
		if name == "" || u.Name == name {
			return u, nil
		}
	}
	return User{}, fmt.Errorf("no user %q in the farm's config", name)
}
