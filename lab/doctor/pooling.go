package doctor

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// checkPooling sends, right after checkLB's authenticated requests, one
// request through the LB with no credentials, on a new connection, from
// a client that never logged on. Behind an L4 balancer each client
// connection has its own backend connection, and the host challenges it
// (401). Behind an L7 proxy pooling backend connections across clients it
// rides a connection another client logged on, and the host, keeping the
// logon on the connection, answers as that user: who asked (nobody) and
// who the host says it served differ.
func (doc *doctor) checkPooling(ctx context.Context, name string) {
	c, err := doc.lab.UserClient(doc.user, name, doc.lab.LBAddr(), false)
	if err != nil {
		return // the ticket check has said why the user cannot log in
	}
	defer c.Close()
	_, port, _ := net.SplitHostPort(doc.lab.LBAddr())
	res, err := c.GetAnonymous(ctx, "https://"+net.JoinHostPort(name, port)+"/")
	switch {
	case err != nil:
		doc.add(Warn, "connection reuse", "a request without credentials through the LB: "+err.Error(), "")
	case res.Status == http.StatusOK && res.User != "":
		doc.add(Fail, "connection reuse", fmt.Sprintf("a request with no credentials, on a new connection, was answered 200 as %s by %s (Persistent-Auth): "+
			"the LB gave it a backend connection %s had logged on: it proxies HTTP and pools backend connections across clients",
			res.User, res.Backend, userName(res.User)), CauseL7Pooling)
	default:
		doc.add(Pass, "connection reuse", fmt.Sprintf("a request with no credentials is answered %d: no client rides another's logged-on backend connection", res.Status), "")
	}
}

// userName is a principal's name without its realm.
func userName(principal string) string {
	name, _, _ := strings.Cut(principal, "@")
	return name
}
