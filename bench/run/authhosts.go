package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// farmInfo is the part of krbfarm up's farm.json the auth and farm
// benches use.
type farmInfo struct {
	Realm    string `json:"realm"`
	FQDN     string `json:"fqdn"`
	SPN      string `json:"spn"`
	URL      string `json:"url"`
	Krb5Conf string `json:"krb5_conf"`
	CACert   string `json:"ca_cert"`
	StateDir string `json:"state_dir"`
	Ready    bool   `json:"ready"`
	LB       struct {
		Addr string `json:"addr"`
	} `json:"lb"`
	Backends []struct {
		Name   string `json:"name"`
		Keytab string `json:"keytab"`
	} `json:"backends"`
	Users []struct {
		Principal string `json:"principal"`
		Password  string `json:"password"`
	} `json:"users"`
}

// startRealm runs `krbfarm up` (a real MIT KDC, its hosts and LB) in
// dir/farm, on cpus when not "", with the backends named, and returns
// its farm.json once the farm is ready: the realm, the keytab and the
// user the benches borrow.
func (a *authEnv) startRealm(ctx context.Context, cpus string, backends ...string) (*proc, farmInfo, error) {
	state := filepath.Join(a.dir, "farm")
	p, err := a.ps.start("krbfarm-up", cpus, a.krbfarm, "up", "--state", state, "--listen", "127.0.0.1:0",
		"--mode", "terminate", "--dashboard", "off", "--backend", strings.Join(backends, ","))
	if err != nil {
		return nil, farmInfo{}, err
	}
	var fi farmInfo
	err = waitReadyFor(ctx, p, 60*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(state, "farm.json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &fi); err != nil {
			return err
		}
		if !fi.Ready {
			return fmt.Errorf("farm.json: not ready yet")
		}
		return nil
	})
	if err == nil && (len(fi.Backends) == 0 || len(fi.Users) == 0) {
		err = fmt.Errorf("farm.json has no backend or no user")
	}
	return p, fi, err
}

// hostFiles are the auth hosts' copies of the realm's files, readable by
// Apache's www-data children (a 0700 state dir is not).
type hostFiles struct {
	keytab, krb5conf, rcache, root string
}

func (a *authEnv) copyHostFiles(fi farmInfo) (hostFiles, error) {
	dir := filepath.Join(a.dir, "hostfiles")
	h := hostFiles{filepath.Join(dir, "http.keytab"), filepath.Join(dir, "krb5.conf"), filepath.Join(dir, "rcache"), filepath.Join(dir, "www")}
	if err := mkdirs(dir, "rcache", "www"); err != nil {
		return h, err
	}
	for dst, src := range map[string]string{h.keytab: fi.Backends[0].Keytab, h.krb5conf: fi.Krb5Conf} {
		b, err := os.ReadFile(src)
		if err != nil {
			return h, err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil { // a throwaway realm's key
			return h, err
		}
	}
	if err := os.WriteFile(filepath.Join(h.root, "small.txt"), []byte(strings.Repeat("k", smallSize-1)+"\n"), 0o644); err != nil {
		return h, err
	}
	return h, chownToWWW(h.rcache)
}

// chownToWWW gives path to www-data, when there is one and we are root.
func chownToWWW(path string) error {
	u, err := user.Lookup(apacheUser)
	if err != nil || os.Getuid() != 0 {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

// startBackend runs `krbfarm backend` with the copied keytab.
func (a *authEnv) startBackend(ctx context.Context, fi farmInfo, h hostFiles) (*proc, string, error) {
	addr, err := loopbackAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := a.ps.start("krbfarm-backend", a.hostCPU, a.krbfarm, "backend", "--name", "bench", "--keytab", h.keytab,
		"--spn", fi.SPN, "--listen", addr)
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + addr + "/", waitReady(ctx, p, httpOK("http://"+addr+"/healthz"))
}

const apacheUser = "www-data"

const apacheConf = `ServerRoot "{{.Dir}}"
ServerName localhost
Listen {{.Listen}}
PidFile {{.Dir}}/apache2.pid
DefaultRuntimeDir {{.Dir}}
ErrorLog {{.Dir}}/error.log
LogLevel warn
Mutex file:{{.Dir}} default
User ` + apacheUser + `
Group ` + apacheUser + `
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authn_core_module /usr/lib/apache2/modules/mod_authn_core.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_user_module /usr/lib/apache2/modules/mod_authz_user.so
LoadModule auth_gssapi_module /usr/lib/apache2/modules/mod_auth_gssapi.so
StartServers 1
ServerLimit 1
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 128
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
DocumentRoot "{{.Root}}"
<Location />
    AuthType GSSAPI
    AuthName "krbfarm bench"
    GssapiCredStore keytab:{{.Key}}
    GssapiAllowedMech krb5
    Require valid-user
</Location>
`

// startApache runs Apache 2.4 (mpm_event, mod_auth_gssapi) from its own
// config in dir/apache, in the foreground, so it is stopped by its PID.
func (a *authEnv) startApache(ctx context.Context, h hostFiles) (*proc, string, error) {
	dir := filepath.Join(a.dir, "apache")
	if err := mkdirs(dir, "."); err != nil {
		return nil, "", err
	}
	addr, err := loopbackAddr()
	if err != nil {
		return nil, "", err
	}
	conf, err := writeConf(dir, "apache2.conf", apacheConf, confData{Dir: dir, Listen: addr, Root: h.root, Key: h.keytab})
	if err != nil {
		return nil, "", err
	}
	p, err := a.ps.startEnv("apache2", a.hostCPU, []string{"KRB5_CONFIG=" + h.krb5conf, "KRB5RCACHEDIR=" + h.rcache},
		"apache2", "-d", dir, "-f", conf, "-DFOREGROUND")
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr + "/small.txt"
	return p, url, waitReady(ctx, p, wantStatus(url, http.StatusUnauthorized))
}

// wantStatus returns a check that GETs url without credentials and wants
// status.
func wantStatus(url string, status int) func() error {
	c := &http.Client{Timeout: time.Second}
	return func() error {
		res, err := c.Get(url)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != status {
			return fmt.Errorf("%s: %s; want %d", url, res.Status, status)
		}
		return nil
	}
}
