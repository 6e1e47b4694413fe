package backend

// SetAuthPersistSingleRequest changes authPersistSingleRequest at run
// time, as appcmd does: on, every request must authenticate and a logon
// kept on a connection earlier no longer serves later requests; off, the
// authPersistNonNTLM rule applies again.
func (s *Site) SetAuthPersistSingleRequest(on bool) { s.singleRequest.Store(on) }
