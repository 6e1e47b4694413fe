package krbhttp

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// Config says how a Client reaches a farm and as whom.
type Config struct {
	Krb5Conf string // client krb5.conf path; required
	Realm    string // the user's realm; "" = krb5.conf's default_realm
	User     string // e.g. alice; required
	Password string // required
	// SPN is the service principal to ask for, e.g. HTTP/sso.krbfarm.localhost.
	// Always explicit: gokrb5 would otherwise canonicalise the host name.
	SPN    string
	CAFile string // PEM bundle that signs the farm's certificate; "" = system roots
	// DialAddr, if set, is where every connection goes, whatever the URL's
	// host (like curl --connect-to); the URL's name still sets SNI and Host.
	DialAddr string
	Timeout  time.Duration // per request; 0 = 10s
	// NTLMFallback makes the client behave as a browser when the KDC has no
	// such SPN (KDC_ERR_S_PRINCIPAL_UNKNOWN): if the server offers NTLM, the
	// request is made with NTLM instead. false = fail as kinit/curl would.
	NTLMFallback bool
	// NoChannelBindings sends tokens without channel bindings over TLS too
	// (all-zero Bnd), as Debian's Chromium and curl (MIT GSSAPI) do; false
	// = bound to the certificate seen, as Windows clients do (bindings.go).
	NoChannelBindings bool
	// Groups is how many security groups the user is in (its memberOf);
	// 0 = few enough not to matter. Over 0, service tickets carry the
	// groups' SIDs, as a Windows PAC does: the real KDC issues them that
	// big (see bigticket.go).
	Groups int
}

// Client is a Kerberos user with an HTTP client that sends a fresh SPNEGO
// token on a new TCP connection for every request, as a browser does on
// its first request to each connection of an L4-balanced farm.
type Client struct {
	cfg  Config
	krb  *krbclient.Client
	http *http.Client
}

// Result is what one request returned.
type Result struct {
	Status    int    `json:"status"`
	Backend   string `json:"backend"`   // the X-Backend header, or the JSON body's backend
	User      string `json:"user"`      // the authenticated client principal, if any
	Mechanism string `json:"mechanism"` // Kerberos, NTLM, or "" when not authenticated
	Challenge string `json:"challenge"` // WWW-Authenticate on a 401
}

// New logs the user in (an AS exchange with the KDC) and returns a
// client ready to make requests.
func New(cfg Config) (*Client, error) {
	kc, err := krbconfig.Load(cfg.Krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", cfg.Krb5Conf, err)
	}
	realm := cmp.Or(cfg.Realm, kc.LibDefaults.DefaultRealm)
	cl := krbclient.NewWithPassword(cfg.User, realm, cfg.Password, kc, krbclient.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		return nil, fmt.Errorf("kerberos login as %s@%s: %w", cfg.User, realm, kerberosError(err))
	}
	hc, err := NewHTTPClient(cfg)
	if err != nil {
		cl.Destroy()
		return nil, err
	}
	return &Client{cfg: cfg, krb: cl, http: hc}, nil
}

// NewHTTPClient is the HTTP client a Client sends its requests with:
// cfg.CAFile's roots, every connection to cfg.DialAddr if set, no
// keep-alive, cfg.Timeout. It needs no Kerberos fields.
func NewHTTPClient(cfg Config) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", cfg.CAFile)
		}
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true, Proxy: nil}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if cfg.DialAddr != "" {
			addr = cfg.DialAddr
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, Timeout: cmp.Or(cfg.Timeout, 10*time.Second)}, nil
}

// Get sends one authenticated GET to url. A 200 whose AP-REP does not
// check (mutual.go) comes with a *MutualAuthError.
func (c *Client) Get(ctx context.Context, url string) (Result, error) {
	return c.do(ctx, url, true)
}

// GetAnonymous sends one GET with no Authorization header.
func (c *Client) GetAnonymous(ctx context.Context, url string) (Result, error) {
	return c.do(ctx, url, false)
}

func (c *Client) do(ctx context.Context, url string, auth bool) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Accept", "application/json")
	var ch *tlsChannel
	if auth {
		if ch, err = c.openChannel(ctx, req.URL); err != nil {
			return Result{}, err
		}
		if ch != nil {
			defer ch.conn.Close()
		}
	}
	var sent *mutualToken
	if auth {
		if sent, err = c.setToken(req, ch); err != nil {
			if c.cfg.NTLMFallback && IsKerberosCode(err, errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN) {
				return c.getNTLM(ctx, url, err)
			}
			return Result{}, fmt.Errorf("get service ticket for %s: %w", c.cfg.SPN, err)
		}
	}
	resp, err := c.clientOn(ch).Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	res := readResult(resp)
	if sent != nil {
		return res, sent.check(resp)
	}
	return res, nil
}

func readResult(resp *http.Response) Result {
	r := Result{Status: resp.StatusCode, Backend: resp.Header.Get("X-Backend"), Challenge: resp.Header.Get("WWW-Authenticate")}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var j struct{ Backend, User, Mechanism string }
		if json.Unmarshal(body, &j) == nil {
			r.User, r.Mechanism = j.User, j.Mechanism
			r.Backend = cmp.Or(r.Backend, j.Backend)
		}
	}
	return r
}

// User is the client's user name, without realm.
func (c *Client) User() string { return c.cfg.User }

// Groups is how many security groups the client's tickets carry.
func (c *Client) Groups() int { return c.cfg.Groups }

// Close forgets the user's tickets.
func (c *Client) Close() {
	c.krb.Destroy()
	c.http.CloseIdleConnections()
}

// Via returns a client for the same user and tickets that sends every
// connection to addr (a host reached directly, not through the LB).
func (c *Client) Via(addr string) (*Client, error) {
	cfg := c.cfg
	cfg.DialAddr = addr
	hc, err := NewHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, krb: c.krb, http: hc}, nil
}

// Token returns a fresh Negotiate Authorization header value for the
// client's SPN (a new authenticator each call), e.g. to replay it.
func (c *Client) Token() (string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://localhost/", nil)
	if _, err := c.setToken(req, nil); err != nil {
		return "", fmt.Errorf("get service ticket for %s: %w", c.cfg.SPN, err)
	}
	return req.Header.Get("Authorization"), nil
}

// setToken sets req's Negotiate header, asking for mutual authentication
// (mutual.go), bound to ch's certificate if any. A user in groups first
// gets the ticket with their SIDs, which SPNEGO then takes from the cache.
func (c *Client) setToken(req *http.Request, ch *tlsChannel) (*mutualToken, error) {
	if err := c.groupTicket(); err != nil {
		return nil, err
	}
	var bnd [16]byte
	if ch != nil {
		bnd = ch.bnd
	}
	m, err := c.newMutualToken(c.cfg.SPN, bnd)
	if err != nil {
		return nil, kerberosError(err)
	}
	req.Header.Set("Authorization", m.header)
	return m, nil
}

func (c *Client) groupTicket() error {
	if c.cfg.Groups <= 0 {
		return nil
	}
	if _, _, ok := c.krb.GetCachedTicket(c.cfg.SPN); ok {
		return nil
	}
	_, err := bigTicket(c.krb, c.cfg.SPN, c.cfg.Groups)
	return kerberosError(err)
}

// GetWithToken sends one GET to url with the given Authorization value.
func (c *Client) GetWithToken(ctx context.Context, url, authorization string) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", authorization)
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	return readResult(resp), nil
}

// ServiceTicket asks the KDC for a ticket to the client's SPN (like
// klist get) and returns its kvno and enctype number.
func (c *Client) ServiceTicket() (kvno int, etype int32, err error) {
	if err := c.groupTicket(); err != nil {
		return 0, 0, err
	}
	tkt, _, err := c.krb.GetServiceTicket(c.cfg.SPN)
	if err != nil {
		return 0, 0, kerberosError(err)
	}
	return tkt.EncPart.KVNO, tkt.EncPart.EType, nil
}
