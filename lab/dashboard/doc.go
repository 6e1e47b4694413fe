// Package dashboard serves a live web page of a running farm, for
// trainers and anyone who would rather watch than read logs: the topology
// (clients, load balancer, hosts, KDC) with each host's health as the LB
// sees it, per-host logons by mechanism and the last Kerberos error, the
// security events as they happen, the directory (accounts, SPNs, kvnos,
// duplicates), and buttons that run the failure scenarios and send
// requests.
//
// It listens on loopback only unless told otherwise, everything it serves
// is embedded (no CDN: it works offline), live updates are server-sent
// events, and every action that changes the farm (POST) needs the page's
// per-run token in the X-Krbfarm-Token header.
//
// Typical use, for a farm run by this process:
//
//	ln, _ := dashboard.Listen("", false) // 127.0.0.1, a free port
//	d, _ := dashboard.New(dashboard.Config{}, farm.Admin(), log)
//	go d.Serve(ctx, ln)
//	fmt.Println("dashboard:", "http://"+ln.Addr().String()+"/")
//
// or, for a farm run by another process, lab.OpenAdmin(stateDir, "").
package dashboard
