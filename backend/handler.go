package backend

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// ServeHTTP behaves like IIS with Windows Authentication: http.sys header
// limits first, then the app pool (503 when its identity cannot log on),
// /healthz without authentication, and every other path only for a user
// authenticated by a token or, when persisted, earlier on the connection.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.setDeadlines(w)
	w.Header().Set("X-Backend", s.cfg.Name)
	// Date from the host's own clock (its offset included), as IIS sends it.
	w.Header().Set("Date", s.verifier.now().UTC().Format(http.TimeFormat))
	setClientAddress(w, r)
	if s.headersTooLarge(w, r) {
		return
	}
	if !s.batch.Load() {
		s.serviceUnavailable(w, r)
		return
	}
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok")
		return
	}
	cs := connStateOf(r.Context())
	h := r.Header.Get("Authorization")
	if h == "" {
		if id := cs.persisted(); id != nil && !s.singleRequest.Load() {
			w.Header().Set("Persistent-Auth", "true")
			s.writeIdentity(w, r, id, true, false)
			return
		}
		s.log.Debug("negotiate challenge", zap.String("remote", r.RemoteAddr))
		s.challenge(w, r, nil, "401 - Unauthorized: this site requires Windows Authentication (Negotiate).")
		return
	}
	s.authenticate(w, r, cs, h)
}

// authenticate checks the request's token: an NTLM handshake message when
// NTLM is a provider, else a Kerberos AP-REQ.
func (s *Site) authenticate(w http.ResponseWriter, r *http.Request, cs *connState, h string) {
	cs.keep(nil) // a new token replaces what the connection held
	if t, ok := ntlmToken(h); ok && s.cfg.hasProvider(ProviderNTLM) {
		s.serveNTLM(w, r, cs, t)
		return
	}
	scheme, _, _ := strings.Cut(strings.TrimSpace(h), " ")
	if strings.EqualFold(scheme, ProviderNegotiate) && !s.cfg.hasProvider(ProviderNegotiate) {
		s.refuse(w, r, malformed("Negotiate is not an enabled provider of this site (providers: %s)", strings.Join(s.cfg.Providers, ", ")))
		return
	}
	id, reply, err := s.verifier.AcceptOn(h, r.RemoteAddr, channelOf(r))
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	s.log.Debug("authenticated", zap.String("remote", r.RemoteAddr), zap.String("user", id.User),
		zap.Int("kvno", id.KVNO), zap.String("enctype", id.EncType), zap.Bool("reply", reply != nil))
	if reply != nil {
		// The accept-completed token (the AP-REP for mutual authentication),
		// as IIS sends it on the 200.
		w.Header().Set("WWW-Authenticate", ProviderNegotiate+" "+base64.StdEncoding.EncodeToString(reply))
	}
	s.loggedOn(w, r, cs, id, "", reply != nil)
}

// loggedOn records a successful logon (event 4624), keeps it on the
// connection when the persistence rules say so, and answers 200. mutual:
// the answer carries an AP-REP.
func (s *Site) loggedOn(w http.ResponseWriter, r *http.Request, cs *connState, id *Identity, msg string, mutual bool) {
	persist := s.persists(id.Mechanism)
	if persist {
		cs.keep(id)
	}
	s.event(Event{ID: EventLogonSuccess, Source: "Security", User: id.User, Package: id.Mechanism,
		LogonType: LogonTypeNetwork, Remote: r.RemoteAddr, Message: msg})
	w.Header().Set("Persistent-Auth", strconv.FormatBool(persist))
	s.writeIdentity(w, r, id, false, mutual)
}

// persists applies IIS's rule: authPersistSingleRequest forgets every
// logon after its request; otherwise NTLM always stays on the connection
// and Kerberos does when authPersistNonNTLM is true.
func (s *Site) persists(mechanism string) bool {
	if s.singleRequest.Load() {
		return false
	}
	return mechanism == mechNTLM || *s.cfg.AuthPersistNonNTLM
}

// refuse logs the one Warn line and the 4625 event for a refused token,
// and sends the challenge.
func (s *Site) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		ae = malformed("%v", err)
	}
	s.stats.refused(ae.Name)
	s.log.Warn("negotiate refused",
		zap.String("remote", r.RemoteAddr),
		zap.String("reason", ae.Name),
		zap.Int32("code", ae.Code),
		zap.String("detail", ae.Detail))
	status, sub := failureStatus(ae)
	s.event(Event{ID: EventLogonFailure, Source: "Security", User: failureUser(ae), Package: failurePackage(ae), LogonType: LogonTypeNetwork,
		Remote: r.RemoteAddr, Status: ntstatus(status), SubStatus: ntstatus(sub), Reason: ae.Name, Message: ae.Detail})
	s.challenge(w, r, ae, "401 - Unauthorized: Access is denied due to invalid credentials.")
}

// failureUser is the 4625 TargetUserName: the ticket's client when it was
// decrypted, else "-" as Windows writes it.
func failureUser(ae *AuthError) string {
	if ae.User == "" {
		return "-"
	}
	return ae.User
}

// failurePackage names the authentication package a refusal came from.
func failurePackage(ae *AuthError) string {
	switch {
	case ae.Package != "":
		return ae.Package
	case ae.Code != 0, ae.Name == ReasonReplayCacheFull, strings.HasPrefix(ae.Name, "EPA_"):
		return mechKerberos
	case strings.HasPrefix(ae.Name, "NTLM"):
		return mechNTLM
	}
	return ProviderNegotiate
}

// challenge answers 401 with one WWW-Authenticate header per provider:
// to a browser IIS's page and what ae (nil: no credentials) means, to
// others the one line body.
func (s *Site) challenge(w http.ResponseWriter, r *http.Request, ae *AuthError, body string) {
	for _, p := range s.cfg.Providers {
		w.Header().Add("WWW-Authenticate", p)
	}
	if wantsHTML(r) {
		s.writePage(w, "denied", http.StatusUnauthorized, s.deniedPageFor(r, ae))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintln(w, body)
}

// response is the JSON body of an authenticated request.
type response struct {
	Backend   string `json:"backend"`
	Persisted bool   `json:"persisted,omitempty"` // authenticated earlier on this connection
	Mutual    bool   `json:"mutual,omitempty"`    // this answer carries an AP-REP (mutual authentication)
	TLS       bool   `json:"tls,omitempty"`       // TLS ended at this host (LB passthrough or reencrypt)
	*Identity
}

// writeIdentity answers 200: JSON when asked, else the host's page.
func (s *Site) writeIdentity(w http.ResponseWriter, r *http.Request, id *Identity, persisted, mutual bool) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(response{Backend: s.cfg.Name, Persisted: persisted, Mutual: mutual, TLS: r.TLS != nil, Identity: id})
		return
	}
	s.writeOKPage(w, s.okPage(r, id, persisted, mutual))
}
