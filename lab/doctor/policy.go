package doctor

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/directory"
)

// checkPool is the app pool's state and the WAS event behind it (5021):
// without the batch logon right the pool is stopped and the host answers
// 503. A host in "Deny log on as a batch job" is no-batch-logon-right; one
// whose last gpupdate applied a GPO that leaves its identity out is
// gpo-scope, named with where the GPO granting the right is linked. A host
// whose pool runs now but would lose the right at its next policy refresh
// is a warning.
func (doc *doctor) checkPool(h *directory.HostSite) {
	ok, why := doc.d.BatchRight(h)
	if ok {
		doc.add(Pass, h.Name+" app pool", "started: its identity holds \"Log on as a batch job\" ("+why+")", "")
		doc.checkPendingPolicy(h)
		return
	}
	detail := "stopped: its identity lacks \"Log on as a batch job\" (SeBatchLogonRight): " + why
	cause := CauseNoBatchRight
	if r := h.IIS.BatchLogonRight; r == nil || *r {
		cause = CauseGPOScope
		detail = "stopped since its last gpupdate: its identity lacks \"Log on as a batch job\" (SeBatchLogonRight): " + why + "; " + doc.grantingLinks(h)
	}
	if e := lastEvent(doc.host(h.Name).Events, backend.EventPoolIdentity); e != "" {
		detail += "; event 5021: " + e
	}
	doc.add(Fail, h.Name+" app pool", detail, cause)
}

// grantingLinks says where the GPOs granting h's pool identity the right
// are linked, and where h's computer account sits.
func (doc *doctor) grantingLinks(h *directory.HostSite) string {
	pool := h.IIS.PoolAccount(doc.d.Service, h.Machine)
	ou := doc.d.PolicyFor(h).OU
	g := doc.d.Granting(pool)
	if len(g) == 0 {
		return fmt.Sprintf("no GPO grants it to %s", pool)
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(g)) {
		where := "linked nowhere"
		if len(g[name]) > 0 {
			where = "linked to " + strings.Join(g[name], ", ")
		}
		parts = append(parts, fmt.Sprintf("GPO %q grants it to %s but is %s", name, pool, where))
	}
	return strings.Join(parts, "; ") + fmt.Sprintf(", while %s sits in %s", h.Machine, ou)
}

// checkPendingPolicy warns when the policy linked to a host's OU now
// would stop its pool at its next refresh (gpupdate, or every 90 minutes).
func (doc *doctor) checkPendingPolicy(h *directory.HostSite) {
	if r := h.IIS.BatchLogonRight; r != nil && !*r {
		return
	}
	next := *h
	next.Policy = doc.d.PolicyFor(h)
	if ok, why := doc.d.BatchRight(&next); !ok {
		doc.add(Warn, h.Name+" policy", "at its next gpupdate the pool will stop: "+why, CauseGPOScope)
		if !slices.Contains(doc.r.Warns, CauseGPOScope) {
			doc.r.Warns = append(doc.r.Warns, CauseGPOScope)
		}
	}
}

// checkRotation names the hosts holding a stale key for the SPN holder
// after its password changed. When every host decrypting with a plain
// shared account is stale, the account was rotated and no keytab
// followed: gmsa-rotation, whose fix is a gMSA.
func (doc *doctor) checkRotation() {
	if doc.holder == nil || doc.holder.Kind == directory.KindMachine {
		return
	}
	states := doc.d.KeyStates(doc.holder.Name)
	if len(states) == 0 {
		return // no host decrypts with it: the IIS checks say so
	}
	var stale []string
	for _, k := range states {
		if !k.Current {
			stale = append(stale, fmt.Sprintf("%s holds kvno %d", k.Host, k.KVNO))
		}
	}
	if len(stale) == 0 {
		how := "pushed keytabs"
		if doc.holder.Managed() {
			how = "a gMSA: its hosts fetch each new key themselves"
		}
		doc.add(Pass, "rotation", fmt.Sprintf("every host holds %s's current key, kvno %d (%s)", doc.d.Qualified(doc.holder), doc.holder.KVNO, how), "")
		return
	}
	detail := fmt.Sprintf("%s's key is at kvno %d; %s: stale since its password changed", doc.d.Qualified(doc.holder), doc.holder.KVNO, strings.Join(stale, ", "))
	cause := CauseStaleKeytab
	if len(stale) == len(states) && !doc.holder.Managed() {
		cause = CauseRotation
		detail += "; a plain account's rotation reaches no host by itself: use a gMSA"
		for i, c := range doc.r.Checks {
			if c.Cause == CauseStaleKeytab {
				doc.r.Checks[i].Cause = CauseRotation
			}
		}
	}
	doc.add(Fail, "rotation", detail, cause)
}
