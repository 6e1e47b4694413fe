package backend

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// The pages a browser sees, made to be projected: the host's name large on
// a colour of its own, then what the request proved. Everything is inline
// (no external asset) and every value goes through html/template.

// pageCSS is shared by the three pages; --host is the host's colour.
const pageCSS = `<style>
body{margin:0;font:22px/1.4 system-ui,sans-serif;background:#f4f4f4;color:#111}
.host{background:var(--host);color:#fff;padding:24px 48px}
.host .name{font-size:84px;font-weight:700;letter-spacing:1px;line-height:1.1}
.host .what{font-size:26px;opacity:.95}
main{padding:16px 48px}
h1{font-size:40px;margin:12px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 24px;margin:0}
dt{font-weight:600;color:#444}
dd{margin:0;font-family:ui-monospace,monospace}
dd.note,p.note{grid-column:2;font:18px/1.3 system-ui,sans-serif;color:#555;margin-top:-4px}
.iis{font-family:Verdana,Arial,sans-serif;background:#fff;border-left:8px solid #c00;padding:12px 20px}
.iis h2{color:#c00;margin:0 0 6px}
.reason{font-size:34px;font-family:ui-monospace,monospace;color:#a00}
</style>`

// pageHead opens a page: the host banner with sub as its second line.
const pageHead = `{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Host}}</title>` + pageCSS + `</head>
<body style="--host: {{.Colour}}"><header class="host"><div class="name">{{.Host}}</div><div class="what">{{.Sub}}</div></header>
<main>{{end}}`

const okPage = `{{template "head" .}}
<h1>Hello, {{.User}}</h1>
<dl>
<dt>backend</dt><dd>{{.Host}}</dd>
<dt>user</dt><dd>{{.User}}</dd>
<dt>mechanism</dt><dd>{{.Mechanism}}</dd><dd class="note">{{.MechanismNote}}</dd>
<dt>spn</dt><dd>{{.SPN}}</dd>
<dt>realm</dt><dd>{{.Realm}}</dd>
<dt>kvno</dt><dd>{{.KVNO}}</dd><dd class="note">the key version that decrypted the ticket: it must match the account's msDS-KeyVersionNumber</dd>
<dt>enctype</dt><dd>{{.EncType}}</dd>
<dt>mutual</dt><dd>{{.Mutual}}</dd><dd class="note">{{.MutualNote}}</dd>
<dt>binding</dt><dd>{{.Binding}}</dd><dd class="note">{{.BindingNote}}</dd>
<dt>remote</dt><dd>{{.Remote}}</dd><dd class="note">{{.RemoteNote}}</dd>
<dt>tls</dt><dd>{{.TLS}}</dd><dd class="note">{{.TLSNote}}</dd>
<dt>persisted</dt><dd>{{.Persisted}}</dd>
</dl>
</main></body></html>
`

const deniedPage = `{{template "head" .}}
<div class="iis"><h2>401 - Unauthorized: Access is denied due to invalid credentials.</h2>
<p>You do not have permission to view this directory or page using the credentials that you supplied.</p></div>
<h1>What it means here</h1>
{{if .Reason}}<p class="reason">{{.Reason}}</p>{{end}}
<p>{{.ReasonNote}}</p>
{{if .Detail}}<p class="note">{{.Detail}}</p>{{end}}
</main></body></html>
`

const unavailablePage = `{{template "head" .}}
<div class="iis"><h2>Service Unavailable</h2><p>HTTP Error 503. The service is unavailable.</p></div>
<h1>What it means here</h1>
<p class="reason">{{.Reason}}</p>
<p>{{.ReasonNote}}</p>
</main></body></html>
`

var pages = template.Must(template.Must(template.New("head").Parse(pageHead)).New("ok").Parse(okPage))

func init() {
	template.Must(pages.New("denied").Parse(deniedPage))
	template.Must(pages.New("unavailable").Parse(unavailablePage))
}

// hostPage is what the pages show. Empty strings show as empty cells.
type hostPage struct {
	Host, Colour, Sub string
	// 200
	User, Mechanism, MechanismNote, SPN, Realm, EncType string
	KVNO                                                int
	Mutual, MutualNote, Binding, BindingNote            string
	Remote, RemoteNote, TLS, TLSNote                    string
	Persisted                                           bool
	// 401, 503
	Reason, ReasonNote, Detail string
}

// wantsHTML reports whether r comes from a browser (Accept: text/html).
// Others (curl, scripts, the doctor) keep the one-line bodies.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// newPage starts a page for this host and request: its banner and the
// client address with what it is.
func (s *Site) newPage(r *http.Request, sub string) hostPage {
	p := hostPage{Host: s.cfg.Name, Colour: s.colour, Sub: sub, Remote: r.RemoteAddr}
	if s.cfg.ProxyProtocol.Enabled() {
		p.RemoteNote = "the client, from the load balancer's PROXY header (trusted: " + strings.Join(s.cfg.ProxyProtocol.Trusted, ", ") + "); without a header, the TCP peer"
	} else {
		p.RemoteNote = "the TCP peer: behind an L4 load balancer without PROXY protocol, that is the balancer, not the client"
	}
	p.TLS, p.TLSNote = "none on this hop", "the load balancer ended TLS (mode terminate), or the client used plain HTTP; an L4 balancer adds no header, so its mode is not seen here"
	if r.TLS != nil {
		p.TLS, p.TLSNote = "ended at this host", "the load balancer passed TLS through or re-encrypted it (mode passthrough or reencrypt)"
	}
	return p
}

// okPage fills the 200 page for id; mutual is whether this answer carries
// an AP-REP (mutual authentication).
func (s *Site) okPage(r *http.Request, id *Identity, persisted, mutual bool) hostPage {
	p := s.newPage(r, id.Mechanism+" logon on "+s.cfg.Name)
	p.User, p.Mechanism, p.SPN, p.Realm = id.User, id.Mechanism, id.SPN, id.Realm
	p.KVNO, p.EncType, p.Persisted = id.KVNO, id.EncType, persisted
	p.MechanismNote = mechanismNote(id.Mechanism)
	switch {
	case persisted:
		p.Mutual, p.MutualNote = "n/a", "no token on this request: the connection authenticated earlier (Persistent-Auth)"
	case id.Mechanism == mechNTLM:
		p.Mutual, p.MutualNote = "no", "NTLM has no mutual authentication"
	case mutual:
		p.Mutual, p.MutualNote = "yes", "this 200 carries the AP-REP in WWW-Authenticate: proof to the client that this host holds the key"
	default:
		p.Mutual, p.MutualNote = "no", "the client did not ask for mutual authentication"
	}
	p.Binding, p.BindingNote = bindingNote(id.Binding)
	return p
}

// mechanismNote explains the token sign of a mechanism in one line.
func mechanismNote(mech string) string {
	if mech == mechNTLM {
		return "the browser sent TlRMTVNT… (base64 of \"NTLMSSP\"): an NTLM handshake, so Kerberos was not used (no ticket for this SPN, or the name is not in the intranet zone)"
	}
	return "the browser sent Negotiate YII… (a GSS-API token, tag 0x60): a Kerberos ticket for the SPN below, checked with this host's keytab"
}

// bindingNote shows Extended Protection's outcome for the token.
func bindingNote(b string) (string, string) {
	switch b {
	case BindingChannel:
		return b, "Extended Protection: the token's channel bindings match this host's TLS certificate"
	case BindingService:
		return b, "Extended Protection (flags Proxy): the ticket's SPN is in the allowed list"
	}
	return "none", "Extended Protection did not bind this token (tokenChecking None, or Allow without bindings)"
}

// writePage renders page name; a render error can only be a bug here, and
// the status is already sent, so it is logged.
func (s *Site) writePage(w http.ResponseWriter, name string, status int, p hostPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		s.log.Warn("page render failed: " + err.Error())
	}
}

// deniedPageFor fills the 401 page for a refusal (nil: no credentials).
func (s *Site) deniedPageFor(r *http.Request, ae *AuthError) hostPage {
	p := s.newPage(r, "401 on "+s.cfg.Name)
	if ae == nil {
		p.ReasonNote = "no credentials yet: the browser's first request is always answered 401 with the providers (" +
			strings.Join(s.cfg.Providers, ", ") + "); a browser that can get a ticket retries at once with it"
		return p
	}
	p.Reason, p.Detail = ae.Name, ae.Detail
	if ae.Code != 0 {
		p.Reason += " (Kerberos error " + strconv.Itoa(int(ae.Code)) + ")"
	}
	p.ReasonNote = reasonNote(ae.Name)
	return p
}

// unavailablePageFor fills the 503 page of a stopped app pool.
func (s *Site) unavailablePageFor(r *http.Request) hostPage {
	p := s.newPage(r, "503 on "+s.cfg.Name)
	p.Reason = ReasonNoBatchRight + " · WAS event 5021"
	p.ReasonNote = "the application pool is stopped: its identity lacks \"Log on as a batch job\" (SeBatchLogonRight), so it could not log on (4625, logon type 4) and WAS disabled the pool (event 5021). Grant the right by GPO, gpupdate /force, start the pool."
	return p
}
