// Package proc runs the child programs the lab starts and must stop: the
// KDC (krb5kdc) and one backend process per host. Each child's output goes
// to a log file, a ready line in it says when the child serves, it gets
// SIGKILL if the lab dies first, and an unexpected end is reported as an
// Exit quoting the log's last lines.
//
// Typical use:
//
//	p, err := proc.Start("krb5kdc", cmd, logPath, "starting...")
//	if err != nil { ... }
//	if err := p.WaitReady(ctx, 10*time.Second); err != nil { ... }
//	p.NotifyExit(func(ex proc.Exit) { log.Print(ex) })
//	defer p.Stop(3 * time.Second)
package proc
