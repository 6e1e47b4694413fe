package doctor

import (
	"fmt"

	"github.com/krbfarm/krbfarm/lab/directory"
)

// requestOverhead is about what a browser's GET adds to the Authorization
// header: request line, Host, Accept, User-Agent, cookies left aside.
const requestOverhead = 200

// checkHeaderSize compares the token the user sends (the Authorization
// header) with host h's http.sys limits, as Microsoft's token size
// guidance does: a header over MaxFieldLength, or a request over
// MaxRequestBytes, gets 400 "Request Header Too Long" before any
// authentication, so no 4625 event and no Kerberos error either.
func (doc *doctor) checkHeaderSize(h *directory.HostSite) {
	field, request := h.IIS.HeaderLimits()
	hdr := len("Authorization: ") + len(doc.token)
	who := doc.whose()
	switch {
	case hdr > field:
		doc.add(Fail, h.Name+" token", fmt.Sprintf("%s Authorization header is %d bytes, over MaxFieldLength %d: 400 Request Header Too Long",
			who, hdr, field), CauseLargeToken)
	case hdr+requestOverhead > request:
		doc.add(Fail, h.Name+" token", fmt.Sprintf("%s request headers are about %d bytes, over MaxRequestBytes %d: 400 Request Header Too Long",
			who, hdr+requestOverhead, request), CauseLargeToken)
	default:
		doc.add(Pass, h.Name+" token", fmt.Sprintf("%s Authorization header is %d bytes, under MaxFieldLength %d and MaxRequestBytes %d",
			who, hdr, field, request), "")
	}
}

// whose names the user whose token is checked and its group count, e.g.
// "bob's (600 groups)".
func (doc *doctor) whose() string {
	name := doc.user
	if name == "" {
		name = doc.lab.FirstUser()
	}
	if acct := doc.d.Account(name); acct != nil && acct.Groups > 0 {
		return fmt.Sprintf("%s's (%d groups)", name, acct.Groups)
	}
	return name + "'s"
}
