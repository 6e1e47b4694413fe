//go:build !linux

package lab

import "syscall"

// signalHost sends sig to the host process farm.json names. Only Linux
// checks first that pid still runs that host (hostsignal_linux.go).
func signalHost(pid int, _ string, sig syscall.Signal) error {
	return syscall.Kill(pid, sig)
}
