package krbhttp

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/go-ntlmssp"
)

// NTLMUnavailableError says the client got no Kerberos ticket and the
// server does not offer NTLM either.
type NTLMUnavailableError struct {
	URL      string
	Kerberos error // why there was no ticket
}

func (e *NTLMUnavailableError) Error() string {
	return fmt.Sprintf("get service ticket: %v; and %s does not offer NTLM", e.Kerberos, e.URL)
}

func (e *NTLMUnavailableError) Unwrap() error { return e.Kerberos }

// getNTLM does what a browser does when it gets no Kerberos ticket: it asks
// anonymously and, if the server offers NTLM, runs NTLM's three messages
// (NEGOTIATE, CHALLENGE, AUTHENTICATE) over one kept-alive connection.
func (c *Client) getNTLM(ctx context.Context, url string, krbErr error) (Result, error) {
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives, tr.MaxConnsPerHost = false, 1
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: c.http.Timeout}
	resp, err := ntlmLeg(ctx, hc, url, "")
	if err != nil {
		return Result{}, err
	}
	if resp.StatusCode != http.StatusUnauthorized || !offersScheme(resp, "NTLM") {
		return Result{}, &NTLMUnavailableError{URL: url, Kerberos: krbErr}
	}
	user := c.ntlmUser()
	neg, err := ntlmssp.NewNegotiateMessage(c.ntlmDomain(), "")
	if err != nil {
		return Result{}, err
	}
	if resp, err = ntlmLeg(ctx, hc, url, "NTLM "+base64.StdEncoding.EncodeToString(neg)); err != nil {
		return Result{}, err
	}
	challenge, err := ntlmChallenge(resp)
	if err != nil {
		return Result{}, err
	}
	auth, err := ntlmssp.NewAuthenticateMessage(challenge, user, c.cfg.Password, nil)
	if err != nil {
		return Result{}, fmt.Errorf("NTLM authenticate: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "NTLM "+base64.StdEncoding.EncodeToString(auth))
	last, err := hc.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer last.Body.Close()
	return readResult(last), nil
}

// ntlmLeg sends one GET (with authorization, if set) and drains the body so
// the connection stays open for the next leg.
func ntlmLeg(ctx context.Context, hc *http.Client, url, authorization string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, nil
}

// offersScheme reports whether a 401 lists scheme among its WWW-Authenticate headers.
func offersScheme(resp *http.Response, scheme string) bool {
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if s, _, _ := strings.Cut(v, " "); strings.EqualFold(s, scheme) {
			return true
		}
	}
	return false
}

// ntlmChallenge is the CHALLENGE message of an NTLM 401.
func ntlmChallenge(resp *http.Response) ([]byte, error) {
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if s, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(s, "NTLM") {
			return base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
		}
	}
	return nil, fmt.Errorf("NTLM negotiate answered %s without an NTLM challenge", resp.Status)
}

// ntlmDomain is the user's domain short name: the realm's first label.
func (c *Client) ntlmDomain() string {
	realm := c.cfg.Realm
	if realm == "" {
		realm = c.krb.Credentials.Domain()
	}
	d, _, _ := strings.Cut(realm, ".")
	return strings.ToUpper(d)
}

// ntlmUser is DOMAIN\user, as Windows sends it.
func (c *Client) ntlmUser() string { return c.ntlmDomain() + `\` + c.cfg.User }
