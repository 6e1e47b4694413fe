//go:build !linux

package lb

import "net"

const epollSupported = false

// engine is the event-loop engine, Linux only: elsewhere newEngine is
// never called (Config.useEpoll is false) and these do nothing.
type engine struct{}

func newEngine(*Server) *engine                                    { return nil }
func (*engine) start() error                                       { return nil }
func (*engine) stop()                                              {}
func (*engine) acceptor(net.Listener) (net.Listener, func() error) { return nil, nil }
