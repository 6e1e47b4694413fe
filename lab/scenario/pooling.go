package scenario

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/krbfarm/krbfarm/lab/doctor"
	"github.com/krbfarm/krbfarm/lb"
)

// poolUser is the l7-connection-pooling scenario's second user, who is
// served as the first.
const poolUser = "bob"

// l7Pooling is the scenario: an L7 balancer whose backend connections are
// shared by every client, in front of hosts that keep a logon on the
// connection.
func l7Pooling() *Scenario {
	return &Scenario{Name: "l7-connection-pooling", Cause: doctor.CauseL7Pooling, Title: "an L7 load balancer reuses one user's connection for another",
		Story: "To save backend connections, the network team turns the farm's virtual server from L4 (TCP) into L7 (HTTP) with connection reuse (F5 OneConnect, NetScaler connection multiplexing). IIS keeps a logon on its TCP connection (Kerberos with authPersistNonNTLM=True, IIS's default; NTLM always). alice logs on; her backend connection goes back to the pool; bob's next request carries no token (a browser's first request does not, nor do later ones on a connection it believes authenticated), rides alice's connection, and the host answers it as alice: bob sees alice's session.",
		Setup: []Step{addPoolUser(), lbMode(lb.ModeL7Pool,
			"F5: HTTP virtual server + OneConnect profile (NetScaler: HTTP vserver, httpProfile -conMultiplex ENABLED)")},
		Symptom:  poolingSymptom,
		Verifier: poolingVerify,
		Fix: []Step{lbMode(lb.ModeTerminate,
			"F5: back to a Standard/Performance (Layer 4) TCP virtual server, or remove the OneConnect profile (NetScaler: TCP/SSL_BRIDGE vserver, or -conMultiplex DISABLED)")},
	}
}

// addPoolUser creates bob, unless the farm already has him.
func addPoolUser() Step {
	return Step{Windows: "New-ADUser " + poolUser + " -Enabled $true", Do: func(ctx context.Context, l Lab) (string, error) {
		d, err := l.Directory()
		if err != nil {
			return "", err
		}
		if d.Account(poolUser) != nil {
			return poolUser + " already exists", nil
		}
		return "", l.AddUser(ctx, poolUser, poolUser+"-password", 0)
	}}
}

// lbMode switches the farm's load balancer, shown as the ADC change.
func lbMode(mode, adc string) Step {
	return Step{Windows: adc + "   # lab: krbfarm up --mode " + mode, Do: func(ctx context.Context, l Lab) (string, error) {
		return "load balancer now in mode " + mode, l.SetLBMode(ctx, mode)
	}}
}

// poolingSymptom: alice logs on through the LB, then bob's requests
// without a token come back served as alice.
func poolingSymptom(ctx context.Context, l Lab, out io.Writer, n int) (bool, error) {
	p, err := probePooling(ctx, l, out, n)
	return p.asOther > 0, err
}

// poolingVerify: after the fix, bob without a token is challenged (401)
// every time, and with his token served as himself.
func poolingVerify(ctx context.Context, l Lab, out io.Writer, n int) (bool, error) {
	p, err := probePooling(ctx, l, out, n)
	return err == nil && p.asOther == 0 && p.challenged == n && p.ownOK, err
}

// pooling is what probePooling saw.
type pooling struct {
	asOther    int  // bob's token-less requests answered 200 as someone else
	challenged int  // bob's token-less requests answered 401
	ownOK      bool // bob's request with his own token was served as bob
}

// probePooling sends alice's authenticated request, then n of bob's
// without a token and one with his own, each on a new connection to the
// LB, and prints who the host said it served.
func probePooling(ctx context.Context, l Lab, out io.Writer, n int) (pooling, error) {
	var p pooling
	url := lbURL(l)
	alice, err := l.UserClient("", l.SiteName(), l.LBAddr(), false)
	if err != nil {
		return p, err
	}
	defer alice.Close()
	bob, err := l.UserClient(poolUser, l.SiteName(), l.LBAddr(), false)
	if err != nil {
		return p, err
	}
	defer bob.Close()
	res, err := alice.Get(ctx, url)
	if err != nil {
		return p, err
	}
	fmt.Fprintf(out, "   %-5s %-16s %s\n", alice.User(), "logs on (token):", served(res.Status, res.User, res.Backend))
	seen := map[string]int{}
	var order []string
	for range n {
		res, err := bob.GetAnonymous(ctx, url)
		if err != nil {
			return p, err
		}
		switch {
		case res.Status == 200 && !sameUser(res.User, poolUser):
			p.asOther++
		case res.Status == 401:
			p.challenged++
		}
		line := served(res.Status, res.User, res.Backend)
		if seen[line] == 0 {
			order = append(order, line)
		}
		seen[line]++
	}
	for _, line := range order {
		fmt.Fprintf(out, "   %-5s %-16s %s\n", poolUser, fmt.Sprintf("no token x%d:", seen[line]), line)
	}
	res, err = bob.Get(ctx, url)
	if err != nil {
		return p, err
	}
	p.ownOK = res.Status == 200 && sameUser(res.User, poolUser)
	fmt.Fprintf(out, "   %-5s %-16s %s\n", poolUser, "his own token:", served(res.Status, res.User, res.Backend))
	if p.asOther > 0 {
		fmt.Fprintf(out, "   %d of %s's requests were answered as another user: the LB gave him a backend connection someone else had logged on\n", p.asOther, poolUser)
	}
	return p, nil
}

// served says how a request was answered, e.g. "200 as alice@REALM (server1)".
func served(status int, user, backend string) string {
	if status == 200 {
		return fmt.Sprintf("200 as %s (%s)", user, backend)
	}
	return fmt.Sprintf("%d (%s)", status, backend)
}

// sameUser compares a principal (alice@REALM) with a user name.
func sameUser(principal, user string) bool {
	name, _, _ := strings.Cut(principal, "@")
	return strings.EqualFold(name, user)
}

// lbURL is the site's front door: https://<fqdn>:<LB port>/.
func lbURL(l Lab) string {
	_, port, _ := net.SplitHostPort(l.LBAddr())
	return fmt.Sprintf("https://%s/", net.JoinHostPort(l.SiteName(), port))
}
