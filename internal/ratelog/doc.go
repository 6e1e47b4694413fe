// Package ratelog is what lb and backend share to rate-limit log lines:
// at most one line per key per period, with the number of events held
// back since the key's previous line, in a bounded number of keys. A key
// is whatever a line is about, usually a sender's address, so that each
// sender is named; a global limit is one constant key ("").
//
//	lines := ratelog.New(10*time.Second, 4096, time.Now)
//	if ok, n := lines.Allow(ip); ok {
//		log.Warn("proxy header refused", zap.String("remote", ip), zap.Int("suppressed", n))
//	}
//
// The limiter bounds its own memory: once it holds its maximum of keys,
// all seen within the period, a new key is neither logged nor
// remembered, so the caller should count every event itself (metrics)
// and leave the limiter only the decision to log.
package ratelog
