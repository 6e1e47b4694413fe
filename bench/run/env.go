package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
)

// env is one bench run's fixed setting: where files go, which CPUs each
// role runs on, how many workers each server gets.
type env struct {
	ps      *procs
	dir     string
	layout  string   // layoutPinned or layoutUnpinned
	krbfarm string   // path of the krbfarm binary
	workers int      // nginx worker_processes, HAProxy nbthread (Go uses GOMAXPROCS)
	lbCPU   string   // taskset list for balancers; "" = not pinned
	loadCPU string   // taskset list for the origin and wrk; "" = not pinned
	nofile  uint64   // RLIMIT_NOFILE hard limit, given to nginx
	conns   int      // connection limit configured in nginx and HAProxy
	tls     tlsFiles // the one certificate
	module  string   // nginx stream module to load, or ""
	// originPID is the origin nginx's master, for the load side's CPU.
	originPID int

	krbfarms []string          // krbfarm subjects: "krbfarm", then "krbfarm-<engine>" per extra engine
	engines  map[string]string // each krbfarm subject's passthrough engine
}

// The layouts: where the servers and the load run.
const (
	layoutPinned   = "pinned"   // balancers on CPU 1; origin and load on CPU 0; one worker each
	layoutUnpinned = "unpinned" // no pinning; one worker per CPU
)

// balancers are the subjects that run a balancer, in table order.
func (e *env) balancers() []string {
	return append(append([]string{}, e.krbfarms...), subjHAProxy, subjNginx)
}

// subjects are the table's columns: every balancer and the origin direct.
func (e *env) subjects() []string { return append(e.balancers(), subjDirect) }

// startOrigin starts nginx serving dir/www over HTTP; it returns its address.
func (e *env) startOrigin(ctx context.Context) (*proc, string, error) {
	dir := filepath.Join(e.dir, "origin")
	if err := mkdirs(dir, "."); err != nil {
		return nil, "", err
	}
	root := filepath.Join(e.dir, "www")
	if err := writeSite(root); err != nil {
		return nil, "", fmt.Errorf("origin files: %w", err)
	}
	addr, err := loopbackAddr()
	if err != nil {
		return nil, "", err
	}
	d := confData{Dir: dir, Listen: addr, Root: root, Workers: e.workers, Conns: 4096, Nofile: e.nofile}
	conf, err := writeConf(dir, "nginx.conf", nginxOrigin, d)
	if err != nil {
		return nil, "", err
	}
	p, err := e.ps.start("origin-nginx", e.loadCPU, "nginx", "-p", dir+"/", "-c", conf, "-e", dir+"/error.log")
	if err != nil {
		return nil, "", err
	}
	return p, addr, waitReady(ctx, p, httpOK("http://"+addr+"/small.txt"))
}

// startLB starts one balancer of kind subject in front of backend, with
// TLS termination when withTLS; ready is how to tell it is serving.
func (e *env) startLB(ctx context.Context, subject, tag, backend string, withTLS bool, ready func(addr string) func() error) (*proc, string, error) {
	dir := filepath.Join(e.dir, subject+"-"+tag)
	if err := mkdirs(dir, "."); err != nil {
		return nil, "", err
	}
	addr, err := loopbackAddr()
	if err != nil {
		return nil, "", err
	}
	argv, err := e.lbArgv(subject, dir, addr, backend, withTLS)
	if err != nil {
		return nil, "", err
	}
	p, err := e.ps.start(subject+"-"+tag, e.lbCPU, argv...)
	if err != nil {
		return nil, "", err
	}
	if err := waitReady(ctx, p, ready(addr)); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, addr, nil
}

func (e *env) lbArgv(subject, dir, addr, backend string, withTLS bool) ([]string, error) {
	d := confData{Dir: dir, Listen: addr, Backend: backend, Workers: e.workers, Conns: e.conns, Nofile: e.nofile, Module: e.module}
	if withTLS {
		d.Cert, d.Key = e.tls.cert, e.tls.key
	}
	if eng, ok := e.engines[subject]; ok {
		argv := []string{e.krbfarm, "lb", "--listen", addr, "--backend", backend, "--mode", "passthrough", "--engine", eng}
		if withTLS {
			argv = []string{e.krbfarm, "lb", "--listen", addr, "--backend", backend, "--mode", "terminate", "--cert", e.tls.cert, "--key", e.tls.key}
		}
		return argv, nil
	}
	switch subject {
	case subjHAProxy:
		if withTLS {
			d.Cert = e.tls.combined
		}
		conf, err := writeConf(dir, "haproxy.cfg", haproxyConf, d)
		return []string{"haproxy", "-f", conf, "-db", "-p", filepath.Join(dir, "haproxy.pid")}, err
	case subjNginx:
		d.Conns = 2 * e.conns // nginx counts both sides of a proxied connection
		conf, err := writeConf(dir, "nginx.conf", nginxStream, d)
		return []string{"nginx", "-p", dir + "/", "-c", conf, "-e", filepath.Join(dir, "error.log")}, err
	}
	return nil, fmt.Errorf("unknown balancer %q", subject)
}

func loopbackAddr() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// The pinned layout swaps its two CPUs from round to round: balancers on
// CPU 1 and the load side on CPU 0 in rounds 1, 3, 5, ..., the other way
// in rounds 2, 4, 6, .... The CPUs of this VM drift in speed one apart
// from the other, over tens of seconds to minutes. Where one subject is
// bound by the balancer's CPU and another by the load's, such a drift
// moved their paired ratio between runs; with the CPUs swapped, each run
// sees both assignments and its range holds what the drift does.
func pinnedCPUs(round int) (lb, load string) {
	if round%2 == 1 {
		return "0", "1"
	}
	return "1", "0"
}

// pinRound sets e's CPUs for round (counted from 0) and moves the running
// origin and balancers (with their threads and child processes) there;
// it does nothing outside the pinned layout or when the CPUs stay.
func (e *env) pinRound(round int, balancers []int) error {
	if e.layout != layoutPinned {
		return nil
	}
	lb, load := pinnedCPUs(round)
	if lb == e.lbCPU && load == e.loadCPU {
		return nil
	}
	e.lbCPU, e.loadCPU = lb, load
	if e.originPID > 0 {
		if err := repin(e.originPID, load); err != nil {
			return fmt.Errorf("origin: %w", err)
		}
	}
	for _, pid := range balancers {
		if err := repin(pid, lb); err != nil {
			return err
		}
	}
	return nil
}

// repin moves every thread of pid and of its direct children to cpus.
func repin(pid int, cpus string) error {
	for _, p := range append([]int{pid}, children(pid)...) {
		if out, err := runCommand("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(p)); err != nil {
			return fmt.Errorf("taskset pid %d to CPU %s: %w: %s", p, cpus, err, out)
		}
	}
	return nil
}
