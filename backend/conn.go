package backend

import (
	"context"
	"net"
	"sync"
	"time"
)

// connKey is the context key of a connection's *connState.
type connKey struct{}

// connState is what one TCP connection remembers between its requests, as
// http.sys does: the identity it authenticated (authPersistNonNTLM, NTLM)
// and an NTLM challenge in flight. NTLM's three messages must ride one
// connection, which is why this state is per connection.
type connState struct {
	mu     sync.Mutex
	id     *Identity   // authenticated on this connection; nil: not (or not persisted)
	ntlm   ntlmPending // NTLM handshake in flight on this connection, awaiting the AUTHENTICATE
	issued time.Time   // when its challenge was sent
}

// ntlmPending is an NTLM handshake waiting for its AUTHENTICATE: the
// server challenge, and the NEGOTIATE and CHALLENGE messages as they
// went over the wire, which the AUTHENTICATE's MIC covers.
type ntlmPending struct {
	challenge           []byte
	negotiate, challMsg []byte
}

// withConnState is http.Server.ConnContext: a fresh state per connection.
func withConnState(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// connStateOf returns the request's connection state, or a throwaway one
// when the handler is called without a server (httptest).
func connStateOf(ctx context.Context) *connState {
	if cs, ok := ctx.Value(connKey{}).(*connState); ok {
		return cs
	}
	return &connState{}
}

// persisted returns the identity this connection authenticated, if kept.
func (c *connState) persisted() *Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// keep remembers id for later requests, or forgets any with nil.
func (c *connState) keep(id *Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id = id
}

// setChallenge records an NTLM challenge sent on this connection.
func (c *connState) setChallenge(p ntlmPending, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ntlm, c.issued, c.id = p, now, nil
}

// takeChallenge returns and forgets the pending NTLM handshake: each
// challenge answers one AUTHENTICATE only. Its challenge is nil when none
// is pending or it is older than maxAge.
func (c *connState) takeChallenge(now time.Time, maxAge time.Duration) ntlmPending {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.ntlm
	c.ntlm = ntlmPending{}
	if p.challenge == nil || now.Sub(c.issued) > maxAge {
		return ntlmPending{}
	}
	return p
}
