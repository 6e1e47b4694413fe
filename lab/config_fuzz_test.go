package lab

import (
	"strings"
	"testing"
)

// FuzzConfigYAML decodes arbitrary farm.yaml documents as LoadConfig does,
// resolves the defaults and validates, as a farm's start does: no panic,
// and a config whose fields are all set the way defaults set them stays
// valid (resolving defaults twice changes nothing Validate sees).
func FuzzConfigYAML(f *testing.F) {
	f.Add("realm: CORP.LOCALHOST\nfqdn: sso.corp.localhost\nusers: [{name: alice}, {name: bob, password: x}]\nbackends: [{name: server1}, {name: server2}]\nlb: {listen: '127.0.0.1:8443', mode: passthrough}\n")
	f.Add("lb: {mode: reencrypt, proxy_protocol: v2, health: http}\nbackends: [{name: s1, identity: ApplicationPoolIdentity, useKernelMode: false, clock_offset: 10m}]\n")
	f.Add("lb: {mode: passthrough, health: http, proxy_protocol: v3, cert: c}\nkdc_port: 70000\nbackends: [{name: a}, {name: a}]\n")
	f.Add("fqdn: ''\nrealm: lower\nusers: [{name: ''}]\nlb: {listen: nope}\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := DecodeConfig(strings.NewReader(src))
		if err != nil {
			return
		}
		d := c.withDefaults()
		if d.Validate() != nil {
			return
		}
		again := d.withDefaults()
		if err := again.Validate(); err != nil {
			t.Fatalf("defaults resolved twice: %v\n%s", err, src)
		}
	})
}
