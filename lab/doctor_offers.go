package lab

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// checkProviders asks the site through the LB without credentials, as a
// browser's first request does, and reports what WWW-Authenticate offers
// (NTLM there: a client without a Kerberos ticket falls back silently).
func (doc *doctor) checkProviders(ctx context.Context, name string) {
	offers, status, err := doc.a.offers(ctx, name)
	switch {
	case err != nil:
		doc.add(Fail, "providers", err.Error(), "")
	case status != http.StatusUnauthorized:
		doc.add(Warn, "providers", fmt.Sprintf("the site answers %d without credentials", status), "")
	default:
		doc.checkOffered(offers)
	}
}

// offers is one anonymous GET through the LB: the schemes a 401 lists.
func (a *Admin) offers(ctx context.Context, name string) ([]string, int, error) {
	hc, err := newHTTPClient(ClientConfig{CAFile: a.Info.CACert, DialAddr: a.Info.LB.Addr})
	if err != nil {
		return nil, 0, err
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URLFor(name), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var out []string
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		out = append(out, scheme)
	}
	return out, resp.StatusCode, nil
}
