package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// ServeHTTP answers /healthz without authentication and every other path
// only with a valid Negotiate token, like IIS with Windows Authentication.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Backend", s.cfg.Name)
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok")
		return
	}
	if name, n := longestHeader(r); n > s.cfg.MaxHeaderBytes {
		s.headerTooLong(w, r, name, n)
		return
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		s.log.Debug("negotiate challenge", zap.String("remote", r.RemoteAddr))
		challenge(w, "401 - Unauthorized: this site requires Windows Authentication (Negotiate).")
		return
	}
	id, err := s.verifier.Verify(h, r.RemoteAddr)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	s.log.Debug("authenticated", zap.String("remote", r.RemoteAddr), zap.String("user", id.User),
		zap.Int("kvno", id.KVNO), zap.String("enctype", id.EncType))
	s.writeIdentity(w, r, id)
}

// refuse logs the one Warn line for a refused token and sends the challenge.
func (s *Site) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		ae = malformed("%v", err)
	}
	s.log.Warn("negotiate refused",
		zap.String("remote", r.RemoteAddr),
		zap.String("reason", ae.Name),
		zap.Int32("code", ae.Code),
		zap.String("detail", ae.Detail))
	challenge(w, "401 - Unauthorized: access is denied due to invalid credentials.")
}

func challenge(w http.ResponseWriter, body string) {
	w.Header().Set("WWW-Authenticate", "Negotiate")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintln(w, body)
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

func (s *Site) headerTooLong(w http.ResponseWriter, r *http.Request, name string, n int) {
	s.log.Warn("request header too long",
		zap.String("remote", r.RemoteAddr),
		zap.String("reason", ReasonHeaderTooBig),
		zap.Int32("code", 0),
		zap.String("detail", fmt.Sprintf("header %s is %d bytes, limit %d (max_header_bytes, like http.sys MaxFieldLength): a big Kerberos token means a user in many groups", name, n, s.cfg.MaxHeaderBytes)))
	w.Header().Set("Content-Type", "text/html; charset=us-ascii")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprint(w, "<h2>Bad Request - Request Header Too Long</h2>\n<hr><p>HTTP Error 400. The size of the request headers is too long.</p>\n")
}

// response is the JSON body of an authenticated request.
type response struct {
	Backend string `json:"backend"`
	*Identity
}

func (s *Site) writeIdentity(w http.ResponseWriter, r *http.Request, id *Identity) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(response{Backend: s.cfg.Name, Identity: id})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	e := html.EscapeString
	fmt.Fprintf(w, "<!doctype html>\n<title>%s</title>\n<h1>Hello, %s</h1>\n<dl>\n", e(s.cfg.Name), e(id.User))
	for _, kv := range [][2]string{
		{"backend", s.cfg.Name}, {"user", id.User}, {"mechanism", id.Mechanism},
		{"spn", id.SPN}, {"realm", id.Realm}, {"kvno", fmt.Sprint(id.KVNO)},
		{"enctype", id.EncType}, {"remote", id.Remote},
	} {
		fmt.Fprintf(w, "<dt>%s</dt><dd>%s</dd>\n", e(kv[0]), e(kv[1]))
	}
	fmt.Fprint(w, "</dl>\n")
}
