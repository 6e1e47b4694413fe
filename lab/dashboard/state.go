package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lb"
)

// State is what /api/state shows, and what the stream sends each second.
type State struct {
	Time      time.Time   `json:"time"`
	FQDN      string      `json:"fqdn"`
	Realm     string      `json:"realm"`
	URL       string      `json:"url"`
	KDC       string      `json:"kdc"`
	LB        LBState     `json:"lb"`
	Hosts     []HostState `json:"hosts"`
	Directory *DirState   `json:"directory,omitempty"`
	Errors    []string    `json:"errors,omitempty"` // what could not be read
}

// LBState is the load balancer as its admin /status shows it.
type LBState struct {
	Addr    string `json:"addr"`
	Mode    string `json:"mode"`
	Balance string `json:"balance"`
	Active  int64  `json:"active"`
	Total   uint64 `json:"total"`
	Reached bool   `json:"reached"` // false: /status did not answer
}

// HostState is one host: the LB's view of it, its settings and logons.
type HostState struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	PID     int    `json:"pid"`
	Healthy bool   `json:"healthy"`
	// Why is the LB's last "backend down" reason while it is down.
	Why         string         `json:"why,omitempty"`
	Connections uint64         `json:"connections"`
	Identity    string         `json:"identity"`
	KernelMode  bool           `json:"use_kernel_mode"`
	AppPoolCred bool           `json:"use_app_pool_credentials"`
	Decrypts    string         `json:"decrypts_with"` // the account whose key decrypts tickets
	ClockOffset string         `json:"clock_offset"`
	Keytab      []KeytabEntry  `json:"keytab"`
	Logons      map[string]int `json:"logons"`   // 4624 by package
	Failures    map[string]int `json:"failures"` // 4625 by reason (status)
	PoolDown    int            `json:"pool_down"`
	LastKrbErr  string         `json:"last_kerberos_error,omitempty"`
	LastKrbAt   *time.Time     `json:"last_kerberos_error_at,omitempty"`
}

// KeytabEntry is one key a host holds.
type KeytabEntry struct {
	Principal string `json:"principal"`
	KVNO      uint32 `json:"kvno"`
	Enctype   string `json:"enctype"`
}

// DirState is the directory: accounts with their SPNs, and duplicates.
type DirState struct {
	Service    string              `json:"service_account"`
	Accounts   []AccountState      `json:"accounts"`
	Duplicates map[string][]string `json:"duplicates"` // SPN → holders
}

// AccountState is one account, without its password.
type AccountState struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	KVNO     int      `json:"kvno"`
	Enctypes []string `json:"enctypes"`
	SPNs     []string `json:"spns"`
	Groups   int      `json:"groups,omitempty"`
}

// State gathers the farm's state now.
func (s *Server) State(ctx context.Context) State {
	in := s.admin.Info
	st := State{Time: time.Now(), FQDN: in.FQDN, Realm: in.Realm, URL: in.URL, KDC: in.KDC,
		LB: LBState{Addr: in.LB.Addr, Mode: in.LB.Mode}}
	lbs, err := lbStatus(ctx, in.LB.Admin)
	if err != nil {
		st.Errors = append(st.Errors, err.Error())
	}
	if lbs != nil {
		st.LB.Reached, st.LB.Balance, st.LB.Active, st.LB.Total = true, lbs.Balance, lbs.Active, lbs.Total
	}
	d, err := s.admin.Directory()
	if err != nil {
		st.Errors = append(st.Errors, err.Error())
	}
	why := downReasons(in.LB.Log)
	stats := s.hub.stats()
	for _, b := range in.Backends {
		h := HostState{Name: b.Name, Addr: b.Addr, PID: b.PID, Logons: map[string]int{}, Failures: map[string]int{}}
		h.fromLB(lbs, why)
		h.fromDirectory(d)
		h.Keytab = readKeytab(b.Keytab)
		if c, ok := stats[b.Name]; ok {
			h.fromStats(c)
		}
		st.Hosts = append(st.Hosts, h)
	}
	st.Directory = dirState(d)
	return st
}

func (h *HostState) fromLB(st *lb.Status, why map[string]string) {
	if st == nil {
		h.Why = "load balancer status unavailable"
		return
	}
	for _, b := range st.Backends {
		if b.Name == h.Name {
			h.Healthy, h.Connections = b.Healthy, b.Total
		}
	}
	if !h.Healthy {
		h.Why = why[h.Name]
		if h.Why == "" {
			h.Why = "health check failing"
		}
	}
}

func (h *HostState) fromDirectory(d *directory.Directory) {
	if d == nil {
		return
	}
	hs := d.Host(h.Name)
	if hs == nil {
		return
	}
	h.Identity = hs.IIS.PoolAccount(d.Service, hs.Machine)
	h.KernelMode, h.AppPoolCred = hs.IIS.KernelMode(), hs.IIS.AppPoolCredentials()
	h.Decrypts = hs.IIS.DecryptingAccount(d.Service, hs.Machine)
	h.ClockOffset = hs.ClockOffset.String()
}

func (h *HostState) fromStats(c hostStats) {
	for k, v := range c.logons {
		h.Logons[k] = v
	}
	for k, v := range c.failures {
		h.Failures[k] = v
	}
	h.PoolDown = c.poolDown
	if c.lastKrb != "" {
		h.LastKrbErr = c.lastKrb
		at := c.lastKrbAt
		h.LastKrbAt = &at
	}
}

// lbStatus asks the LB's admin address for GET /status.
func lbStatus(ctx context.Context, admin string) (*lb.Status, error) {
	if admin == "" {
		return nil, fmt.Errorf("farm.json names no load balancer admin address (a farm started before the dashboard existed?)")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("load balancer status: %w", err)
	}
	defer resp.Body.Close()
	var st lb.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("load balancer status: %w", err)
	}
	return &st, nil
}

// lbLogTail is how much of the end of lb.log downReasons reads.
const lbLogTail = 256 << 10

// downReasons reads the end of the LB's log for each backend's last
// "backend down" error; a later "backend up" clears it.
func downReasons(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > lbLogTail {
		f.Seek(st.Size()-lbLogTail, io.SeekStart)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		var l struct{ Msg, Upstream, Error string }
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch l.Msg {
		case "backend down":
			out[l.Upstream] = l.Error
		case "backend up":
			delete(out, l.Upstream)
		}
	}
	return out
}

// readKeytab lists a host keytab's keys; nil if it cannot be read.
func readKeytab(path string) []KeytabEntry {
	kt, err := keytab.Load(path)
	if err != nil {
		return nil
	}
	names := map[int32]string{}
	for n, id := range etypeID.ETypesByName {
		if old, ok := names[id]; !ok || len(n) > len(old) {
			names[id] = n
		}
	}
	var out []KeytabEntry
	for _, e := range kt.Entries {
		out = append(out, KeytabEntry{Principal: e.Principal.String(), KVNO: e.KVNO, Enctype: names[e.Key.KeyType]})
	}
	return out
}

func dirState(d *directory.Directory) *DirState {
	if d == nil {
		return nil
	}
	ds := &DirState{Service: d.Service, Duplicates: map[string][]string{}}
	for _, a := range d.Accounts {
		ds.Accounts = append(ds.Accounts, AccountState{Name: a.Name, Kind: a.Kind, KVNO: a.KVNO, Enctypes: a.Enctypes, SPNs: a.SPNs, Groups: a.Groups})
	}
	for spn, holders := range d.Duplicates() {
		for _, a := range holders {
			ds.Duplicates[spn] = append(ds.Duplicates[spn], a.Name)
		}
		sort.Strings(ds.Duplicates[spn])
	}
	return ds
}
