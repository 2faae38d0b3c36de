//go:build linux

package deploy

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// TestContainerContract checks what the image promises without a container
// engine: the binary built as the Dockerfile builds it is static, and it
// serves, from a read-only root that holds nothing but itself, the CA
// certificates and the Deployment's volumes, as the Deployment's unprivileged
// user with no capabilities; `chattoken healthcheck` (the HEALTHCHECK) works
// there too.
func TestContainerContract(t *testing.T) {
	k := loadKube(t)
	entry := dockerfileEntrypoint(t)
	bin := harness.Binary // built by TestMain as the Dockerfile builds it

	t.Run("static binary", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("the binary has a %s program header: it is dynamically linked and would not run on distroless/static", p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the binary needs shared libraries %v", libs)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(repoRoot)
		if bytes.Contains(data, []byte(abs+"/")) {
			t.Errorf("the binary contains the build directory %s: not built with -trimpath", abs)
		}
	})

	t.Run("read-only root as the nonroot user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			harness.MissingTool(t, "the container sandbox", sandboxNeeds+"; this test runs as uid "+itoa(int64(os.Geteuid())))
		}
		c := k.container(t)
		pod := k.deployment.Spec.Template.Spec
		uid, gid := effectiveIDs(pod, c)

		// The image's filesystem: the binary at the ENTRYPOINT path, the CA
		// certificates, and the pod's volumes. Nothing else: no /tmp, /dev,
		// /proc, no /etc/passwd.
		root := t.TempDir()
		mkdir(t, root, -1)
		install(t, root, entry, bin, 0o755)
		const ca = "/etc/ssl/certs/ca-certificates.crt"
		if _, err := os.Stat(ca); err == nil {
			install(t, root, ca, ca, 0o644)
		} else {
			install(t, root, ca, os.DevNull, 0o644) // an empty bundle
		}
		keys := writePodVolumes(t, k, root, true)

		env, _ := k.env(t)
		upstream, subject := newUpstream(t, env)
		env["CHATTOKEN_INTROSPECT_URL"] = upstream.URL + "/api/me"
		env["CHATTOKEN_ADDR"] = "127.0.0.1:0"
		env["CHATTOKEN_METRICS_ADDR"] = freeAddr(t)
		delete(env, "CHATTOKEN_REDIS_URL")

		box := sandbox{root: root, exe: entry, uid: uid, gid: gid}
		svc := box.start(t, env, c.Args...)
		pid := svc.cmd.Process.Pid

		// It is chattoken itself (the helper exec'd), as the unprivileged
		// user, with no group, no capability and no way to gain privileges.
		if exe, err := os.Readlink(procPath(pid, "exe")); err != nil || exe != filepath.Join(root, entry) {
			t.Errorf("process %d runs %q (%v), not the image's %s", pid, exe, err, entry)
		}
		status := procStatus(t, pid)
		ids := func(id int64) string { return strings.Repeat(itoa(id)+"\t", 3) + itoa(id) }
		for field, want := range map[string]string{
			"Uid": ids(uid), "Gid": ids(gid), "Groups": "",
			"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "NoNewPrivs": "1",
		} {
			if status[field] != want {
				t.Errorf("/proc/%d/status %s: %q; want %q", pid, field, status[field], want)
			}
		}

		// Its root holds only what was put there, and nothing in it can be
		// written, not even by root.
		entries, err := os.ReadDir(procPath(pid, "root"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		want := []string{"etc", strings.Split(strings.TrimPrefix(entry, "/"), "/")[0]}
		for _, m := range c.VolumeMounts {
			want = append(want, strings.Split(strings.TrimPrefix(m.MountPath, "/"), "/")[0])
		}
		sort.Strings(want)
		want = slices.Compact(want)
		if !slices.Equal(names, want) {
			t.Errorf("the process's root holds %v; want only %v", names, want)
		}
		var etc []string
		_ = filepath.WalkDir(procPath(pid, "root/etc"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(procPath(pid, "root"), p)
				etc = append(etc, rel)
			}
			return err
		})
		if !slices.Equal(etc, []string{"etc/ssl/certs/ca-certificates.crt"}) {
			t.Errorf("/etc holds %v; only the CA certificates belong there", etc)
		}
		keyDir := env["CHATTOKEN_SIGNING_KEY_FILE"]
		for _, p := range []string{"probe", "tmp/probe", strings.TrimPrefix(keyDir, "/") + "/probe"} {
			err := os.MkdirAll(filepath.Dir(procPath(pid, "root/"+p)), 0o755)
			if err == nil {
				err = os.WriteFile(procPath(pid, "root/"+p), []byte("x"), 0o644)
			}
			if !errors.Is(err, syscall.EROFS) {
				t.Errorf("writing /%s inside the process's root: %v; want %v", p, err, syscall.EROFS)
			}
		}

		t.Logf("pid %d runs %s as uid %s gid %s, groups %q, CapEff %s, NoNewPrivs %s; its root holds %v and %v; writes fail with EROFS",
			pid, entry, status["Uid"], status["Gid"], status["Groups"], status["CapEff"], status["NoNewPrivs"], names, etc)

		// It serves.
		checkService(t, k, svc.url, env, root, keys, subject)

		// The image's HEALTHCHECK, in the same root as the same user.
		env["CHATTOKEN_ADDR"] = strings.TrimPrefix(svc.url, "http://")
		if out, code := box.run(t, env, "healthcheck"); code != 0 || strings.TrimSpace(out) != "ok" {
			t.Errorf("chattoken healthcheck exits %d (%q); want 0 and ok", code, out)
		}
		env["CHATTOKEN_ADDR"] = freeAddr(t)
		if out, code := box.run(t, env, "healthcheck"); code != 1 {
			t.Errorf("chattoken healthcheck against a closed port exits %d (%q); want 1", code, out)
		}
		if out, code := box.run(t, env, "version"); code != 0 || !strings.Contains(out, staticVersion) {
			t.Errorf("chattoken version exits %d: %q; want the -X main.version stamp %q", code, out, staticVersion)
		}
	})
}

// install copies src to root/rel with mode, creating its directories 0755.
func install(t *testing.T, root, rel, src string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := root
	for _, part := range strings.Split(strings.Trim(filepath.Dir(rel), "/"), "/") {
		dir = filepath.Join(dir, part)
		mkdir(t, dir, -1)
	}
	dst := filepath.Join(root, rel)
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
}

func procPath(pid int, p string) string { return filepath.Join("/proc", itoa(int64(pid)), p) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// sandbox runs the image's ENTRYPOINT the way a container runtime would (see
// sandboxMain): this test binary, re-executed in a private mount namespace,
// makes root read-only, chroots, drops to uid:gid and execs exe.
type sandbox struct {
	root, exe string
	uid, gid  int64
}

func (b sandbox) command(env map[string]string, args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	cmd := exec.Command(self, args...)
	cmd.Env = []string{
		sandboxEnv + "=" + b.root, sandboxExecEnv + "=" + b.exe,
		sandboxUIDEnv + "=" + itoa(b.uid), sandboxGIDEnv + "=" + itoa(b.gid),
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// sandboxNeeds says what the sandbox needs, for the skip message.
const sandboxNeeds = "cannot be set up: it needs root (CAP_SYS_ADMIN for a private mount namespace and a read-only bind mount, CAP_SYS_CHROOT, CAP_SETUID and CAP_SETGID) to run chattoken in a read-only root as uid 65532; run `go test ./test/deploy/` as root, as CI does"

// privileges turns a sandbox that could not be set up for lack of privilege
// into a skip (or, under CI=true, a failure) naming what is missing.
func privileges(t *testing.T, err error, stderr string) {
	t.Helper()
	if errors.Is(err, syscall.EPERM) || strings.Contains(stderr, "sandbox:") && strings.Contains(stderr, "operation not permitted") {
		harness.MissingTool(t, "the container sandbox", sandboxNeeds+"; here: "+strings.TrimSpace(stderr+" "+errString(err)))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// run runs one command in the sandbox and returns its stdout and exit code.
func (b sandbox) run(t *testing.T, env map[string]string, args ...string) (string, int) {
	t.Helper()
	cmd := b.command(env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	privileges(t, err, stderr.String())
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%v: %v", args, err)
	}
	if code := cmd.ProcessState.ExitCode(); code == sandboxFailed {
		t.Fatalf("the sandbox failed: %s", stderr.String())
	}
	return stdout.String() + stderr.String(), cmd.ProcessState.ExitCode()
}

type sandboxed struct {
	cmd *exec.Cmd
	url string
}

// start runs chattoken in the sandbox until the test ends and waits until it
// logs that it listens.
func (b sandbox) start(t *testing.T, env map[string]string, args ...string) *sandboxed {
	t.Helper()
	cmd := b.command(env, args...)
	pr, pw := io.Pipe()
	stderr := &harness.LockedBuffer{}
	cmd.Stderr = io.MultiWriter(pw, stderr)
	logs := stderr.String
	if err := cmd.Start(); err != nil {
		privileges(t, err, "")
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = pw.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("chattoken stderr:\n%s", logs())
		}
	})
	addr := harness.Listening(pr, nil)
	select {
	case a := <-addr:
		return &sandboxed{cmd: cmd, url: "http://" + a}
	case <-done:
		privileges(t, nil, logs())
		t.Fatalf("chattoken exited in the sandbox before listening (exit %d):\n%s", cmd.ProcessState.ExitCode(), logs())
	case <-time.After(10 * time.Second):
		t.Fatalf("chattoken did not listen within 10s in the sandbox:\n%s", logs())
	}
	return nil
}
