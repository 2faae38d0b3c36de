//go:build linux

package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// The container test's sandbox, run as this test binary with sandboxEnv set,
// in a private mount namespace (exec.Cmd's Unshareflags). It does what a
// container runtime does for `read_only: true` and `user: 65532:65532`, then
// becomes chattoken (exec, same pid):
//
//  1. bind-mounts the assembled root onto itself and remounts it read-only,
//     nosuid, nodev (only in this namespace: the host never sees it);
//  2. chroots into it;
//  3. drops every group, then the gid and uid (which clears every capability)
//     and sets no_new_privs (allowPrivilegeEscalation: false);
//  4. execs the image's ENTRYPOINT with args and only the CHATTOKEN_
//     variables (a container starts with no PATH, HOME, ...).
//
// A failure prints "sandbox: <step>: <error>" and exits 111.
const (
	sandboxUIDEnv  = "DEPLOYTEST_SANDBOX_UID"
	sandboxGIDEnv  = "DEPLOYTEST_SANDBOX_GID"
	sandboxExecEnv = "DEPLOYTEST_SANDBOX_EXEC"
	sandboxFailed  = 111
)

func sandboxMain(args []string) {
	fail := func(step string, err error) {
		fmt.Fprintf(os.Stderr, "sandbox: %s: %v\n", step, err)
		os.Exit(sandboxFailed)
	}
	root, exe := os.Getenv(sandboxEnv), os.Getenv(sandboxExecEnv)
	uid, err := strconv.Atoi(os.Getenv(sandboxUIDEnv))
	if err != nil {
		fail("uid", err)
	}
	gid, err := strconv.Atoi(os.Getenv(sandboxGIDEnv))
	if err != nil {
		fail("gid", err)
	}
	// no_new_privs and the parent-death signal belong to the thread that
	// execs: keep everything on this one.
	runtime.LockOSThread()
	if err := syscall.Mount(root, root, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		fail("bind mount of the root", err)
	}
	if err := syscall.Mount("none", root, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
		fail("read-only remount of the root", err)
	}
	if err := syscall.Chroot(root); err != nil {
		fail("chroot", err)
	}
	if err := syscall.Chdir("/"); err != nil {
		fail("chdir", err)
	}
	if err := syscall.Setgroups([]int{}); err != nil {
		fail("setgroups", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		fail("setgid", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		fail("setuid", err)
	}
	const prSetPdeathsig, prSetNoNewPrivs = 1, 38
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
		fail("no_new_privs", e)
	}
	// Changing credentials cleared the parent-death signal: set it again, so
	// chattoken dies with the test.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGKILL), 0); e != 0 {
		fail("pdeathsig", e)
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CHATTOKEN_") {
			env = append(env, kv)
		}
	}
	err = syscall.Exec(exe, append([]string{filepath.Base(exe)}, args...), env)
	fail("exec "+exe, err)
}
