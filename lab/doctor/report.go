package doctor

import (
	"fmt"
	"io"
)

// builder collects checks into a report and names the verdict; both
// modes (a lab farm, an external deployment) use it.
type builder struct {
	r *Report
}

// statusOf is Pass or Fail.
func statusOf(ok bool) string {
	if ok {
		return Pass
	}
	return Fail
}

func (b *builder) add(status, name, detail, cause string) {
	if status == Pass {
		cause = ""
	}
	b.r.Checks = append(b.r.Checks, Check{Status: status, Name: name, Detail: detail, Cause: cause})
}

func (doc *builder) firstCause() string {
	for _, c := range doc.r.Checks {
		if c.Cause != "" {
			return c.Cause
		}
	}
	return CauseMissingSPN
}

// verdict names the first failing check's catalogue entry and its fix.
func (doc *builder) verdict() {
	for _, c := range doc.r.Checks {
		if c.Status == Fail && c.Cause != "" {
			doc.r.Cause = c.Cause
			break
		}
	}
	if doc.r.Cause == "" {
		for _, c := range doc.r.Checks {
			if c.Status == Fail {
				doc.r.Cause = "unknown"
				doc.r.Verdict = "a check failed for a reason not in the catalogue: " + c.Name + ": " + c.Detail
				return
			}
		}
		doc.r.Verdict = "healthy: every host decrypts the ticket and every request is served with Kerberos"
		return
	}
	f := catalogue[doc.r.Cause]
	doc.r.Verdict, doc.r.Fix = f.Title, f.Fix
	if doc.r.ntlm {
		nf := catalogue[CauseNTLMFallback]
		doc.r.Underlying, doc.r.Cause = doc.r.Cause, CauseNTLMFallback
		doc.r.Verdict = nf.Title + "; underlying: " + f.Title
	}
}

// Print writes the report, one line per check, each line after indent.
func (r *Report) Print(out io.Writer, indent string) {
	for _, c := range r.Checks {
		fmt.Fprintf(out, "%s%-4s  %-16s %s\n", indent, c.Status, c.Name, c.Detail)
	}
	fmt.Fprintf(out, "%sVerdict: %s\n", indent, r.Verdict)
	if r.Underlying != "" {
		fmt.Fprintf(out, "%sCause:   %s (under %s)\n", indent, r.Underlying, r.Cause)
	}
	if r.Fix != "" {
		fmt.Fprintf(out, "%sFix:     %s\n", indent, r.Fix)
	}
}
