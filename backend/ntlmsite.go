package backend

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"go.uber.org/zap"
)

// ntlmTok is an NTLM message from an Authorization header.
type ntlmTok struct {
	scheme  string // "NTLM" or "Negotiate", as the client sent it
	msg     []byte // the NTLMSSP message
	wrapped bool   // inside SPNEGO (NegTokenInit/NegTokenResp)
}

// ntlmToken finds an NTLM message in an Authorization header: raw in the
// NTLM or Negotiate scheme ("TlRMTVNT..."), or inside SPNEGO.
func ntlmToken(h string) (ntlmTok, bool) {
	scheme, b64, _ := strings.Cut(strings.TrimSpace(h), " ")
	t := ntlmTok{scheme: ProviderNegotiate}
	switch {
	case strings.EqualFold(scheme, ProviderNTLM):
		t.scheme = ProviderNTLM
	case !strings.EqualFold(scheme, ProviderNegotiate):
		return t, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return t, false
	}
	if isNTLM(raw) {
		t.msg = raw
		return t, true
	}
	if t.scheme == ProviderNegotiate {
		if mech := spnegoNTLM(raw); mech != nil {
			t.msg, t.wrapped = mech, true
			return t, true
		}
	}
	return t, false
}

// spnegoNTLM returns the NTLM message inside a SPNEGO token, or nil. A
// token without the NTLMSSP signature anywhere in it cannot carry one,
// which spares every Kerberos token a second SPNEGO decoding.
func spnegoNTLM(tok []byte) (mech []byte) {
	if !bytes.Contains(tok, []byte(ntlmSignature)) {
		return nil
	}
	defer func() {
		if recover() != nil {
			mech = nil
		}
	}()
	var st spnego.SPNEGOToken
	if st.Unmarshal(tok) != nil {
		return nil
	}
	mech = st.NegTokenResp.ResponseToken
	if st.Init {
		mech = st.NegTokenInit.MechTokenBytes
	}
	if !isNTLM(mech) {
		return nil
	}
	return mech
}

// serveNTLM runs one step of the NTLM handshake on the request's
// connection: NEGOTIATE gets a CHALLENGE, AUTHENTICATE is checked (NTLMv2)
// against the challenge this connection was sent.
func (s *Site) serveNTLM(w http.ResponseWriter, r *http.Request, cs *connState, t ntlmTok) {
	switch typ := ntlmMessageType(t.msg); typ {
	case ntlmTypeNegotiate:
		s.ntlmChallenge(w, r, cs, t)
	case ntlmTypeAuthenticate:
		id, err := s.ntlmLogon(cs, t.msg, r.RemoteAddr, channelOf(r))
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if t.wrapped {
			w.Header().Set("WWW-Authenticate", ProviderNegotiate+" "+spnegoResp(spnego.NegStateAcceptCompleted, nil))
		}
		s.log.Warn("NTLM logon: Kerberos was not used", zap.String("remote", r.RemoteAddr),
			zap.String("reason", ReasonNTLM), zap.String("user", id.User), zap.String("scheme", t.scheme))
		s.loggedOn(w, r, cs, id, "NTLM logon: Kerberos was not used", false)
	default:
		s.refuse(w, r, malformed("NTLM message type %d where NEGOTIATE (1) or AUTHENTICATE (3) was expected", typ))
	}
}

// ntlmChallenge answers NEGOTIATE with 401 and a CHALLENGE in the scheme
// the client used, remembering the server challenge on the connection.
func (s *Site) ntlmChallenge(w http.ResponseWriter, r *http.Request, cs *connState, t ntlmTok) {
	ch := make([]byte, 8)
	rand.Read(ch)
	now := s.verifier.now()
	msg := buildNTLMChallenge(ch, ntlmFlags(t.msg, 12), s.ntlmNames, now)
	cs.setChallenge(ntlmPending{challenge: ch, negotiate: t.msg, challMsg: msg}, now)
	val := base64.StdEncoding.EncodeToString(msg)
	if t.wrapped {
		val = spnegoResp(spnego.NegStateAcceptIncomplete, msg)
	}
	s.log.Debug("NTLM challenge", zap.String("remote", r.RemoteAddr), zap.String("scheme", t.scheme))
	w.Header().Set("WWW-Authenticate", t.scheme+" "+val)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte("401 - Unauthorized: NTLM challenge.\n"))
}

// spnegoResp is a base64 NegTokenResp for NTLM with state and token.
func spnegoResp(state spnego.NegState, tok []byte) string {
	st := spnego.SPNEGOToken{Resp: true, NegTokenResp: spnego.NegTokenResp{
		NegState: asn1.Enumerated(state), SupportedMech: oidNTLM(), ResponseToken: tok}}
	b, _ := st.Marshal()
	return base64.StdEncoding.EncodeToString(b)
}

// ntlmLogon checks an AUTHENTICATE message as a domain controller would,
// then applies Extended Protection to it as http.sys does for a
// connection that came on channel.
func (s *Site) ntlmLogon(cs *connState, msg []byte, remote string, channel Channel) (*Identity, error) {
	now := s.verifier.now()
	pending := cs.takeChallenge(now, ntlmChallengeMaxAge)
	ch := pending.challenge
	if ch == nil {
		return nil, &AuthError{Name: ReasonNTLMNoChallenge, Detail: "NTLM AUTHENTICATE on a connection that holds no challenge: NTLM's three messages must ride one TCP connection to one host (an L7 proxy or a new connection broke the handshake)"}
	}
	a, err := parseNTLMAuthenticate(msg)
	if err != nil {
		return nil, malformed("%v", err)
	}
	switch {
	case a.User == "":
		return nil, &AuthError{Name: ReasonNTLMNoUser, Detail: "anonymous NTLM logon refused"}
	case len(a.NTResponse) < 44:
		return nil, &AuthError{Name: ReasonNTLMv1, Detail: "NTLMv1 (or LM) response for " + a.User + ": this host accepts NTLMv2 only (LmCompatibilityLevel 5)"}
	}
	hash, ok := s.ntlmHash(a.User)
	if !ok {
		return nil, &AuthError{Name: ReasonNTLMNoUser, User: a.Domain + `\` + a.User, Detail: "NTLM user " + a.Domain + `\` + a.User + " is unknown (not in ntlm_users)"}
	}
	if !ntlmv2Valid(hash, a, ch) {
		return nil, &AuthError{Name: ReasonNTLMBadPassword, User: a.Domain + `\` + a.User, Detail: "NTLMv2 response for " + a.Domain + `\` + a.User + " does not match the account's password"}
	}
	av := ntlmv2Pairs(a.NTResponse)
	if av.flags&avFlagMIC != 0 && !ntlmMICValid(hash, a, msg, pending) {
		return nil, &AuthError{Name: ReasonNTLMBadMIC, User: a.Domain + `\` + a.User, Detail: "the NTLM AUTHENTICATE's MIC does not match the NEGOTIATE, CHALLENGE and AUTHENTICATE messages of this connection: a message was altered on the way (a relay, or a proxy rewriting NTLM), or a client computed it wrong"}
	}
	binding, err := s.verifier.epa.Load().checkNTLM(av, channel)
	if ae, ok := err.(*AuthError); ok {
		ae.User, ae.Package = a.Domain+`\`+a.User, mechNTLM
		return nil, ae
	}
	user := ntlmUserKey(a.User)
	if s.cfg.Realm != "" {
		user += "@" + s.cfg.Realm
	}
	return &Identity{User: user, Realm: s.cfg.Realm, Mechanism: mechNTLM, Remote: remote, AuthTime: now, Binding: binding}, nil
}
