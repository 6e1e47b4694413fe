package backend

import (
	"fmt"
	"net/http"

	"go.uber.org/zap"
)

// Mechanisms named in Identity.Mechanism and event packages.
const (
	mechKerberos = "Kerberos"
	mechNTLM     = "NTLM"
)

// headersTooLarge applies http.sys's limits: one field over MaxFieldLength
// or the request line and headers over MaxRequestBytes get IIS's 400.
func (s *Site) headersTooLarge(w http.ResponseWriter, r *http.Request) bool {
	name, n := longestHeader(r)
	field, request := s.HeaderLimits()
	switch total := requestBytes(r); {
	case n > field:
		s.headerTooLong(w, r, fmt.Sprintf("header %s is %d bytes, limit %d (maxFieldLength, http.sys MaxFieldLength)", name, n, field))
	case total > request:
		s.headerTooLong(w, r, fmt.Sprintf("request line and headers are %d bytes, limit %d (maxRequestBytes, http.sys MaxRequestBytes)", total, request))
	default:
		return false
	}
	return true
}

// SetHeaderLimits changes maxFieldLength and maxRequestBytes (0 = 16384),
// as editing http.sys's MaxFieldLength / MaxRequestBytes in the registry
// then restarting http.sys does. Up to MaxHTTPSysFieldLength they take
// effect at once; net/http's own limit was fixed when the server started.
func (s *Site) SetHeaderLimits(field, request int) {
	c := Config{MaxFieldLength: field, MaxRequestBytes: request}.withDefaults()
	s.maxField.Store(int64(c.MaxFieldLength))
	s.maxRequest.Store(int64(c.MaxRequestBytes))
}

// HeaderLimits returns the maxFieldLength and maxRequestBytes in force.
func (s *Site) HeaderLimits() (field, request int) {
	return int(s.maxField.Load()), int(s.maxRequest.Load())
}

// longestHeader returns the name and size ("Name: value") of the largest
// header field, which http.sys limits with MaxFieldLength.
func longestHeader(r *http.Request) (string, int) {
	var name string
	var max int
	for k, vs := range r.Header {
		for _, v := range vs {
			if n := len(k) + 2 + len(v); n > max {
				name, max = k, n
			}
		}
	}
	return name, max
}

// requestBytes is the size of the request line and headers as sent
// (Go moves Host out of the header map: it is counted back in).
func requestBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

func (s *Site) headerTooLong(w http.ResponseWriter, r *http.Request, detail string) {
	s.log.Warn("request header too long",
		zap.String("remote", r.RemoteAddr),
		zap.String("reason", ReasonHeaderTooBig),
		zap.Int32("code", 0),
		zap.String("detail", detail+": a big Kerberos token means a user in many groups"))
	w.Header().Set("Content-Type", "text/html; charset=us-ascii")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprint(w, "<h2>Bad Request - Request Header Too Long</h2>\n<hr><p>HTTP Error 400. The size of the request headers is too long.</p>\n")
}

// serviceUnavailable is IIS's answer while the app pool is stopped.
func (s *Site) serviceUnavailable(w http.ResponseWriter, r *http.Request) {
	s.log.Debug("app pool stopped: 503", zap.String("remote", r.RemoteAddr))
	if wantsHTML(r) {
		s.writePage(w, "unavailable", http.StatusServiceUnavailable, s.unavailablePageFor(r))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=us-ascii")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, "<h2>Service Unavailable</h2>\n<hr><p>HTTP Error 503. The service is unavailable.</p>\n")
}

// poolStart is the app pool starting: without the batch logon right its
// identity cannot log on, so WAS stops the pool (5021) after a failed
// batch logon (4625, type 4, 0xC000015B).
func (s *Site) poolStart() {
	if s.batch.Load() {
		return
	}
	detail := "the application pool identity lacks \"Log on as a batch job\" (SeBatchLogonRight): the pool is stopped and every request gets 503; grant the right by GPO to the account, then gpupdate /force"
	s.log.Error("app pool identity cannot log on", zap.String("reason", ReasonNoBatchRight), zap.String("detail", detail))
	s.event(Event{ID: EventLogonFailure, Source: "Security", LogonType: LogonTypeBatch, Package: "Negotiate",
		Status: ntstatus(StatusLogonTypeDenied), SubStatus: ntstatus(0), Reason: ReasonNoBatchRight, Message: detail})
	s.event(Event{ID: EventPoolIdentity, Source: "WAS", Reason: ReasonNoBatchRight,
		Message: fmt.Sprintf("The identity of the application pool on %s is invalid: it could not log on as a batch job (SeBatchLogonRight). The application pool has been disabled.", s.cfg.Name)})
}

// event stamps e with the host and its clock and appends it to the event
// log; a write error is logged, never fatal.
func (s *Site) event(e Event) {
	if s.events == nil {
		return
	}
	e.Time, e.Host = s.verifier.now().UTC(), s.cfg.Name
	if e.Remote != "" {
		e.IPAddress, e.IPPort = splitRemote(e.Remote)
	}
	if err := s.events.Write(e); err != nil {
		s.log.Warn("event log write failed", zap.Error(err))
	}
}

// SetExtendedProtection changes the site's extendedProtection, as
// appcmd set config /section:windowsAuthentication
// /extendedProtection.tokenChecking:... does: tokens verified from now on
// follow it. An invalid e is refused and the old settings stay.
func (s *Site) SetExtendedProtection(e ExtendedProtection) error {
	if err := e.validate(); err != nil {
		return err
	}
	s.verifier.SetExtendedProtection(e)
	return nil
}
