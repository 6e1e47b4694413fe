package backend

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// reasonNotes explain each refusal reason in one line, for the 401 page.
var reasonNotes = map[string]string{
	ReasonModified:        "this host could not decrypt the ticket: its keytab has no key matching the one the KDC used (SPN on another account, password reset, or the pool decrypts with the machine account: useAppPoolCredentials)",
	ReasonBadKeyVer:       "the ticket was made with a key version this host's keytab lacks: the password was reset and this host kept the old keytab",
	ReasonNoKey:           "this host's keytab has no key of the ticket's enctype (e.g. an RC4-only keytab and an AES ticket)",
	ReasonSkew:            "the authenticator's time is more than 5 minutes from this host's clock: fix the time (w32tm /resync)",
	ReasonTktExpired:      "the ticket has expired: the client must get a new one (klist purge, or log off and on)",
	ReasonTktNYV:          "the ticket is not valid yet by this host's clock: this host's clock is behind",
	ReasonRepeat:          "this authenticator was already used (a replay): each token is good once per host",
	ReasonNotUs:           "the ticket is for another service principal than this host's",
	ReasonBadIntegrity:    "the authenticator failed its integrity check",
	ReasonBadMatch:        "the ticket and its authenticator name different clients",
	ReasonMalformed:       "the Authorization header is not a token this site understands",
	ReasonReplayCacheFull: "the replay cache is full of unexpired authenticators, so a new one could not be remembered",
	ReasonNTLMNoUser:      "NTLM: no such user (4625 sub-status 0xC0000064)",
	ReasonNTLMBadPassword: "NTLM: wrong password (4625 sub-status 0xC000006A)",
	ReasonNTLMNoChallenge: "NTLM: the AUTHENTICATE came on a connection that got no challenge (the balancer moved the handshake to another host?)",
	ReasonNTLMv1:          "NTLM: only NTLMv2 is accepted (LmCompatibilityLevel 5)",
	ReasonNTLMBadMIC:      "NTLM: the AUTHENTICATE's MIC does not match the messages of this connection (altered on the way?)",
	ReasonBindingMissing:  "Extended Protection Require: the token carries no channel bindings",
	ReasonBindingMismatch: "Extended Protection: the token is bound to another TLS channel (a TLS-terminating balancer's certificate), not this host's",
	ReasonServiceBinding:  "Extended Protection (flags Proxy): the ticket's SPN is not in the allowed list",
}

// reasonNote is the one-line explanation of a refusal reason.
func reasonNote(name string) string {
	if n, ok := reasonNotes[name]; ok {
		return n
	}
	return "refused: see the host's log line \"negotiate refused\" and Security event 4625"
}

// goldenAngle spreads consecutive host numbers far apart on the wheel.
const goldenAngle = 137.508

// hostColour is a stable background colour for a host name, readable under
// white text (contrast at least 4.5:1). Names that end in a number
// (server1, server2...) take hues a golden angle apart, so neighbours never
// look alike; others take a hue from a hash of the name.
func hostColour(name string) string {
	r, g, b := hostRGB(name)
	return fmt.Sprintf("#%02x%02x%02x", r, g, b)
}

func hostRGB(name string) (uint8, uint8, uint8) {
	prefix := strings.TrimRight(name, "0123456789")
	h := fnv.New32a()
	h.Write([]byte(prefix))
	hue := float64(h.Sum32() % 360)
	if n, err := strconv.Atoi(name[len(prefix):]); err == nil {
		hue += float64(n%1000) * goldenAngle
	}
	return darkEnough(math.Mod(hue, 360))
}

// darkEnough is the lightest colour of hue (saturation 70%) under which
// white text has a contrast of at least 4.5:1 (WCAG AA).
func darkEnough(hue float64) (uint8, uint8, uint8) {
	for l := 0.45; l > 0; l -= 0.01 {
		r, g, b := hslRGB(hue, 0.7, l)
		if contrastWithWhite(r, g, b) >= 4.5 {
			return r, g, b
		}
	}
	return 0, 0, 0
}

// hslRGB converts hue (degrees), saturation and lightness (0..1) to RGB.
func hslRGB(h, s, l float64) (uint8, uint8, uint8) {
	c := (1 - math.Abs(2*l-1)) * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := l - c/2
	var r, g, b float64
	switch {
	case h < 60:
		r, g = c, x
	case h < 120:
		r, g = x, c
	case h < 180:
		g, b = c, x
	case h < 240:
		g, b = x, c
	case h < 300:
		r, b = x, c
	default:
		r, b = c, x
	}
	to := func(v float64) uint8 { return uint8(math.Round((v + m) * 255)) }
	return to(r), to(g), to(b)
}

// contrastWithWhite is WCAG's contrast ratio of white text on r, g, b.
func contrastWithWhite(r, g, b uint8) float64 {
	lin := func(v uint8) float64 {
		c := float64(v) / 255
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	lum := 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
	return 1.05 / (lum + 0.05)
}
