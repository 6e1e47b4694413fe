package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalHost sends sig to the host process farm.json names, once sure it
// is still that host: pid's command line must be "krbfarm backend --config
// CONFIG" with the host's own config. A farm.json left from a host that
// died names a pid the system may have given to another process, which a
// SIGHUP would end. The pidfd, opened before the check, makes the signal
// reach the process checked or none.
func signalHost(pid int, config string, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ENOSYS) { // before Linux 5.3: check, then kill
		if err := checkHostProcess(pid, config); err != nil {
			return err
		}
		return syscall.Kill(pid, sig)
	}
	if err != nil {
		return staleHostError(pid, config, err)
	}
	defer unix.Close(fd)
	if err := checkHostProcess(pid, config); err != nil {
		return err
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return staleHostError(pid, config, err)
	}
	return nil
}

// checkHostProcess says whether pid runs the backend with config.
func checkHostProcess(pid int, config string) error {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return staleHostError(pid, config, err)
	}
	args := bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0})
	for i := 0; i+1 < len(args); i++ {
		if string(args[i]) == "--config" && string(args[i+1]) == config {
			return nil
		}
	}
	return staleHostError(pid, config, errors.New("another program runs under that pid"))
}

func staleHostError(pid int, config string, cause error) error {
	return fmt.Errorf("pid %d is not the host of %s any more (%v): the host died and farm.json is stale; restart the farm (krbfarm up)", pid, config, cause)
}
