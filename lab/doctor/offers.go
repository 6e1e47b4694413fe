package doctor

import (
	"context"
	"fmt"
	"net/http"
)

// checkProviders asks the site through the LB without credentials, as a
// browser's first request does, and reports what WWW-Authenticate offers
// (NTLM there: a client without a Kerberos ticket falls back silently).
func (doc *doctor) checkProviders(ctx context.Context, name string) {
	offers, status, err := doc.lab.Offers(ctx, name)
	switch {
	case err != nil:
		doc.add(Fail, "providers", err.Error(), "")
	case status != http.StatusUnauthorized:
		doc.add(Warn, "providers", fmt.Sprintf("the site answers %d without credentials", status), "")
	default:
		doc.checkOffered(offers)
	}
}
