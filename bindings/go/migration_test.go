package runner_test

// One test per claim of docs/migrating-from-go-restricted-runner.md, in the
// guide's order, each using the API the way a program switching from
// go-restricted-runner does, and each also checking the one-line change the
// guide gives to get the old behaviour back.

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
	"github.com/restricted-runner/restricted-runner/bindings/go/common"
)

// landrunSystem lets a command run: the system folders may be executed
// from, /etc read.
func landrunSystem(extra runner.Options) runner.Options {
	return with(runner.Options{
		"allow_read_exec_folders": systemFolders(),
		"allow_read_folders":      []string{"/etc"},
	}, extra)
}

func mustRun(t *testing.T, r runner.Runner, command string, params map[string]interface{}) string {
	t.Helper()
	out, err := r.Run(context.Background(), "/bin/sh", command, nil, params, false)
	if err != nil {
		t.Fatalf("%q: %v", command, err)
	}
	return out
}

func needKind(t *testing.T, kind runner.Type) kindCase {
	t.Helper()
	k, ok := have(t, kind)
	if !ok {
		t.Skipf("%s is not available here", kind)
	}
	return k
}

func newLandrun(t *testing.T, opts runner.Options) *runner.Landrun {
	t.Helper()
	needKind(t, runner.TypeLandrun)
	r, err := runner.NewLandrun(opts, nil)
	if err != nil {
		t.Fatalf("NewLandrun(%v): %v", opts, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func newFirejail(t *testing.T, opts runner.Options) *runner.Firejail {
	t.Helper()
	needKind(t, runner.TypeFirejail)
	r, err := runner.NewFirejail(opts, nil)
	if err != nil {
		t.Fatalf("NewFirejail(%v): %v", opts, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// "New returns a *Native whatever the type; NewDocker (and the other
// NewXxx) return the typed runner."
func TestGuideNewReturnsNative(t *testing.T) {
	r, err := runner.New(runner.TypeExec, runner.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*runner.Exec); ok {
		t.Error("New returned an *Exec")
	}
	if _, ok := r.(*runner.Native); !ok {
		t.Errorf("New returned %T", r)
	}
	var typed runner.Runner
	typed, err = runner.NewExec(runner.Options{}, nil)
	if _, ok := typed.(*runner.Exec); !ok || err != nil {
		t.Errorf("NewExec returned %T, %v", typed, err)
	}
}

// "New takes any logger with a Debug method; *common.Logger and nil work."
func TestGuideLoggerParameter(t *testing.T) {
	logger, err := common.NewLogger("", "", common.LogLevelNone, false)
	if err != nil {
		t.Fatal(err)
	}
	var nilLogger *common.Logger
	var newFn func(runner.Type, runner.Options, runner.Logger) (runner.Runner, error) = runner.New
	for _, l := range []runner.Logger{logger, nilLogger, nil} {
		if _, err := newFn(runner.TypeExec, runner.Options{}, l); err != nil {
			t.Errorf("%T: %v", l, err)
		}
	}
	// A nil logger is common.GetLogger(), as set with SetLogger.
	var buf strings.Builder
	global, _ := common.NewLogger("global: ", "", common.LogLevelDebug, false)
	global.SetOutput(&buf)
	common.SetLogger(global)
	defer common.SetLogger(nil)
	for _, l := range []runner.Logger{nil, nilLogger} {
		r, err := runner.NewExec(runner.Options{}, l)
		if err != nil {
			t.Fatal(err)
		}
		buf.Reset()
		r.RunWithPipes(context.Background(), "rr-guide-no-such-command", nil, nil, nil)
		if !strings.Contains(buf.String(), "global: ") || !strings.Contains(buf.String(), "[DEBUG]") {
			t.Errorf("%T logger: the global logger got %q", l, buf.String())
		}
	}
}

// "The landrun check asks the kernel, not /sys/kernel/security/landlock."
func TestGuideLandrunCheckAsksTheKernel(t *testing.T) {
	needKind(t, runner.TypeLandrun)
	if _, err := os.Stat("/sys/kernel/security/landlock"); err == nil {
		t.Skip("securityfs is mounted here: nothing tells the two checks apart")
	}
	r := newLandrun(t, landrunSystem(nil))
	if err := r.CheckImplicitRequirements(); err != nil {
		t.Fatalf("check failed without securityfs: %v", err)
	}
}

// "Unknown keys and wrong types are errors naming the key; the typed
// NewXxxOptions still ignore unknown keys."
func TestGuideUnknownOptionKeys(t *testing.T) {
	for _, opts := range []runner.Options{
		{"allow_networkin": false},
		{"allow_networking": "no"},
	} {
		_, err := runner.NewFirejail(opts, nil)
		var rerr *runner.Error
		if !errors.Is(err, runner.ErrInvalidOptions) || !errors.As(err, &rerr) || !strings.Contains(err.Error(), "allow_networkin") {
			t.Errorf("%v: %v", opts, err)
		}
	}
	if _, err := runner.NewFirejail(runner.Options{"allow_networking": false}, nil); err != nil {
		t.Errorf("the corrected key: %v", err)
	}
	if _, err := runner.NewFirejailOptions(runner.Options{"allow_networkin": false}); err != nil {
		t.Errorf("NewFirejailOptions: %v", err)
	}
}

// "Options take only {{ .name }} placeholders: anything else is rejected
// when the runner is built, a missing param fails the run naming it; the
// fix is to compute the value in Go and pass it as a param."
func TestGuidePlaceholders(t *testing.T) {
	_, err := runner.NewLandrun(runner.Options{"allow_read_folders": []string{"{{ .dir | upper }}"}}, nil)
	if !errors.Is(err, runner.ErrInvalidOptions) {
		t.Errorf("a sprig pipeline in an option: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newLandrun(t, landrunSystem(runner.Options{"allow_read_folders": []string{"/etc", "{{ .dir }}"}}))
	_, err = r.Run(context.Background(), "/bin/sh", "cat "+dir+"/f", nil, nil, false)
	if !errors.Is(err, runner.ErrInvalidOptions) || !strings.Contains(err.Error(), "dir") {
		t.Errorf("missing param: %v", err)
	}
	upper, _ := common.ProcessTemplate("{{ .d }}", map[string]interface{}{"d": dir})
	if got := mustRun(t, r, "cat "+dir+"/f", map[string]interface{}{"dir": upper}); got != "data" {
		t.Errorf("%q", got)
	}
}

// "A landrun folder that does not exist is an error naming it, from New,
// CheckImplicitRequirements or the first run (NewLandrun still builds the
// runner), unless best_effort, which skips it."
func TestGuideLandrunMissingFolder(t *testing.T) {
	needKind(t, runner.TypeLandrun)
	missing := filepath.Join(t.TempDir(), "missing")
	opts := landrunSystem(runner.Options{"allow_write_folders": []string{missing}})
	if _, err := runner.New(runner.TypeLandrun, opts, nil); !errors.Is(err, runner.ErrInvalidOptions) || !strings.Contains(err.Error(), missing) {
		t.Errorf("New: %v", err)
	}
	r := newLandrun(t, opts)
	if err := r.CheckImplicitRequirements(); !errors.Is(err, runner.ErrInvalidOptions) || !strings.Contains(err.Error(), missing) {
		t.Errorf("check: %v", err)
	}
	if _, err := r.Run(context.Background(), "/bin/sh", "true", nil, nil, false); !errors.Is(err, runner.ErrInvalidOptions) {
		t.Errorf("run: %v", err)
	}
	best := newLandrun(t, landrunSystem(runner.Options{"allow_write_folders": []string{missing}, "best_effort": true}))
	if got := mustRun(t, best, "echo ok", nil); got != "ok" {
		t.Errorf("%q", got)
	}
}

// "NewDockerOptions reads []string lists and Go ints, which
// go-restricted-runner's dropped."
func TestGuideDockerOptionsGoValues(t *testing.T) {
	o, err := runner.NewDockerOptions(runner.Options{"image": "i", "mounts": []string{"/a:/b"}, "memory_swappiness": 30})
	if err != nil || len(o.Mounts) != 1 || o.MemorySwappiness != 30 {
		t.Errorf("%+v, %v", o, err)
	}
}

// "Landlock applies to each command only: the calling program stays
// unrestricted, and rules do not accumulate from one run to the next."
func TestGuideLandrunRestrictsTheChildOnly(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newLandrun(t, landrunSystem(nil))
	if _, err := r.Run(context.Background(), "/bin/sh", "cat "+secret, nil, nil, false); err == nil {
		t.Fatal("the command read a file outside its rules")
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "s3cret" {
		t.Fatalf("the calling program lost access: %v", err)
	}
	wider := newLandrun(t, landrunSystem(runner.Options{"allow_read_folders": []string{"/etc", dir}}))
	if got := mustRun(t, wider, "cat "+secret, nil); got != "s3cret" {
		t.Errorf("a later, wider runner: %q", got)
	}
}

// "Read and write folders do not allow execution: move the system folders
// to allow_read_exec_folders (and use allow_write_exec_folders)."
func TestGuideLandrunReadFoldersDoNotExecute(t *testing.T) {
	theirs := runner.Options{
		"allow_read_folders":      []string{"/usr", "/lib", "/lib64", "/etc"},
		"allow_read_exec_folders": []string{"/usr/bin", "/bin"},
		"best_effort":             true,
	}
	_, err := newLandrun(t, theirs).Run(context.Background(), "/bin/sh", "echo hi", nil, nil, false)
	if !errors.Is(err, runner.ErrSpawn) || !strings.Contains(err.Error(), "allow_read_exec_folders") {
		t.Fatalf("the old layout: %v, want ErrSpawn pointing at allow_read_exec_folders", err)
	}
	moved := runner.Options{
		"allow_read_folders":      []string{"/etc"},
		"allow_read_exec_folders": []string{"/usr", "/lib", "/lib64", "/usr/bin", "/bin"},
		"best_effort":             true,
	}
	if got := mustRun(t, newLandrun(t, moved), "echo hi", nil); got != "hi" {
		t.Errorf("moved: %q", got)
	}

	dir := t.TempDir()
	script := filepath.Join(dir, "tool.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho tool\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := newLandrun(t, landrunSystem(runner.Options{"allow_write_folders": []string{dir}}))
	if _, err := w.Run(context.Background(), "/bin/sh", script, nil, nil, false); err == nil {
		t.Error("a script in a write folder ran")
	}
	wx := newLandrun(t, landrunSystem(runner.Options{"allow_write_exec_folders": []string{dir}}))
	if got := mustRun(t, wx, script, nil); got != "tool" {
		t.Errorf("write-exec folder: %q", got)
	}
}

// "/tmp and /dev are not granted (only /dev/null, /dev/zero, /dev/urandom):
// add them to allow_write_folders."
func TestGuideLandrunTmpAndDev(t *testing.T) {
	f, err := os.CreateTemp("/tmp", "rr-guide-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer os.Remove(f.Name())
	cmd := "echo x > " + f.Name() + " && : > /dev/full && head -c1 /dev/zero >/dev/null && echo done"
	r := newLandrun(t, landrunSystem(nil))
	if _, err := r.Run(context.Background(), "/bin/sh", cmd, nil, nil, false); err == nil {
		t.Fatal("wrote to /tmp and /dev without them in the options")
	}
	if got := mustRun(t, r, "head -c1 /dev/zero | wc -c; echo x >/dev/null", nil); got != "1" {
		t.Errorf("/dev/zero and /dev/null: %q", got)
	}
	back := newLandrun(t, landrunSystem(runner.Options{"allow_write_folders": []string{"/tmp", "/dev"}}))
	if got := mustRun(t, back, cmd, nil); got != "done" {
		t.Errorf("with /tmp and /dev: %q", got)
	}
	if b, _ := os.ReadFile(f.Name()); string(b) != "x\n" {
		t.Errorf("the write did not reach the host's /tmp: %q", b)
	}
}

// "With allow_networking false and no ports, the command has a network of
// its own with only its loopback: nothing outside is reachable
// (go-restricted-runner then restricted nothing): set allow_networking."
func TestGuideLandrunNetworkingOff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	// bash's /dev/tcp needs no network tool in the sandbox.
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	cmd := "exec 3<>/dev/tcp/127.0.0.1/" + strconv.Itoa(port) + " && head -n1 <&3"
	off := newLandrun(t, landrunSystem(runner.Options{"allow_networking": false}))
	if out, err := off.Run(context.Background(), "bash", cmd, nil, nil, false); err == nil {
		t.Fatalf("connected with networking off: %q", out)
	}
	on := newLandrun(t, landrunSystem(runner.Options{"allow_networking": true}))
	if out, err := on.Run(context.Background(), "bash", cmd, nil, nil, false); err != nil || out != "hello" {
		t.Fatalf("networking on: %q, %v", out, err)
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 to try a bind")
	}
	ifaces := `/usr/bin/python3 -c 'import socket; print(" ".join(sorted(n for _, n in socket.if_nameindex())))'`
	if got := mustRun(t, off, ifaces, nil); got != "lo" {
		t.Errorf("interfaces with networking off: %q", got)
	}
	host, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if got := mustRun(t, on, ifaces, nil); len(strings.Fields(got)) != len(host) {
		t.Errorf("interfaces with networking on: %q, the host has %d", got, len(host))
	}
}

// "firejail: the host is read-only, /tmp is private to the spawn and the
// home folder read-only; list what must be written in allow_write_folders
// ("/tmp" gives back the host's /tmp)."
func TestGuideFirejailTmpAndHome(t *testing.T) {
	r := newFirejail(t, runner.Options{})
	hostFile, err := os.CreateTemp("/tmp", "rr-guide-*")
	if err != nil {
		t.Fatal(err)
	}
	hostFile.Close()
	defer os.Remove(hostFile.Name())
	if got := mustRun(t, r, "test -e "+hostFile.Name()+" && echo visible || echo hidden", nil); got != "hidden" {
		t.Errorf("host /tmp in the jail: %q", got)
	}
	if _, err := os.Stat("/dev/kmsg"); err == nil {
		if got := mustRun(t, r, "test -e /dev/kmsg && echo visible || echo hidden", nil); got != "hidden" {
			t.Errorf("host /dev in the jail: %q", got)
		}
	}
	jailFile := hostFile.Name() + "-jail"
	defer os.Remove(jailFile)
	mustRun(t, r, "echo j > "+jailFile, nil)
	if _, err := os.Stat(jailFile); err == nil {
		t.Error("a file written to /tmp in the jail reached the host")
	}

	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home folder")
	}
	sub, err := os.MkdirTemp(home, ".rr-guide-")
	if err != nil {
		t.Skipf("cannot write in the home folder: %v", err)
	}
	defer os.RemoveAll(sub)
	if _, err := r.Run(context.Background(), "/bin/sh", "echo h > "+sub+"/f", nil, nil, false); err == nil {
		t.Error("the jail wrote in the home folder")
	}

	back := newFirejail(t, runner.Options{"allow_write_folders": []string{"/tmp", sub}})
	if got := mustRun(t, back, "cat "+hostFile.Name()+" && echo j > "+jailFile+" && echo h > "+sub+"/f && echo ok", nil); got != "ok" {
		t.Errorf("with /tmp and the folder listed: %q", got)
	}
	if _, err := os.Stat(jailFile); err != nil {
		t.Errorf("the host's /tmp was not written: %v", err)
	}
	if b, _ := os.ReadFile(sub + "/f"); string(b) != "h\n" {
		t.Errorf("home subfolder: %q", b)
	}
}

// "docker: the check asks the engine for the image; with pull never a
// missing image fails it."
func TestGuideDockerCheck(t *testing.T) {
	k := needKind(t, runner.TypeDocker)
	r, err := runner.NewDocker(with(k.opts, runner.Options{"image": "localhost/rr-guide-no-such-image:latest"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.CheckImplicitRequirements(); !errors.Is(err, runner.ErrRequirements) || !strings.Contains(err.Error(), "rr-guide-no-such-image") {
		t.Errorf("%v", err)
	}
}

// "docker: flags of docker_run_opts that would break the attached
// container per run are rejected; a container gets only the run's env."
func TestGuideDockerModel(t *testing.T) {
	for _, opt := range []string{"-d", "-t", "--name x", "--rm"} {
		_, err := runner.NewDocker(runner.Options{"image": "alpine:latest", "docker_run_opts": opt}, nil)
		if !errors.Is(err, runner.ErrInvalidOptions) || !strings.Contains(err.Error(), "docker_run_opts") {
			t.Errorf("%q: %v", opt, err)
		}
	}
	k := needKind(t, runner.TypeDocker)
	r, err := runner.NewDocker(k.opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Setenv("RR_GUIDE_HOST", "host")
	if got := mustRun(t, r, `echo "[$RR_GUIDE_HOST]"`, nil); got != "[]" {
		t.Errorf("the container saw the caller's variable: %q", got)
	}
	out, err := r.Run(context.Background(), "", `echo "$RR_GUIDE_RUN"`, []string{"RR_GUIDE_RUN=run"}, nil, false)
	if err != nil || out != "run" {
		t.Errorf("the run's entry: %q, %v", out, err)
	}

	// Each run's container is gone after it: a normal exit, a failure, a
	// cancellation.
	label := "rr-guide=" + uniqueSeconds()
	tagged, err := runner.NewDocker(with(k.opts, runner.Options{"docker_run_opts": "--label " + label}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tagged.Close()
	mustRun(t, tagged, "true", nil)
	tagged.Run(context.Background(), "", "exit 3", nil, nil, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := tagged.Run(ctx, "", "sleep 60", nil, nil, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled run: %v", err)
	}
	engine, _ := k.opts["engine"].(string)
	left, err := exec.Command(engine, "ps", "--all", "--quiet", "--filter", "label="+label).CombinedOutput()
	if err != nil || strings.TrimSpace(string(left)) != "" {
		t.Errorf("containers left: %q, %v", left, err)
	}
}

// "docker: a failed Run's error is the command's stderr, without
// go-restricted-runner's "docker command execution failed: " prefix."
func TestGuideDockerErrorText(t *testing.T) {
	k := needKind(t, runner.TypeDocker)
	r, err := runner.NewDocker(k.opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Run(context.Background(), "", "echo oops >&2; exit 3", nil, nil, false)
	var exit *runner.ExitError
	if err == nil || err.Error() != "oops" || !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("%v", err)
	}
}

// "Exit statuses are *runner.ExitError, not *exec.ExitError: match
// *runner.ExitError, or interface{ ExitCode() int }, which also matches
// os/exec's."
func TestGuideExitErrors(t *testing.T) {
	r := newExec(t)
	_, _, _, wait, err := r.RunWithPipes(context.Background(), "sh", []string{"-c", "exit 7"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = wait()
	var osExit *exec.ExitError
	if errors.As(err, &osExit) {
		t.Error("matched *exec.ExitError")
	}
	var exit *runner.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 || err.Error() != "exit status 7" {
		t.Errorf("*runner.ExitError: %v", err)
	}
	var coded interface{ ExitCode() int }
	if !errors.As(err, &coded) || coded.ExitCode() != 7 {
		t.Errorf("ExitCode interface: %v", err)
	}
	osErr := exec.Command("sh", "-c", "exit 7").Run()
	if !errors.As(osErr, &coded) || coded.ExitCode() != 7 {
		t.Errorf("the same line on os/exec's error: %v", osErr)
	}
	_, err = r.Run(context.Background(), "", "exit 7", nil, nil, false)
	if !errors.As(err, &coded) || coded.ExitCode() != 7 {
		t.Errorf("Run: %v", err)
	}
}

// "Run's error text is the trimmed stderr, else "exit status N"; the
// *RunError also carries the stdout."
func TestGuideRunErrorText(t *testing.T) {
	r := newExec(t)
	_, err := r.Run(context.Background(), "", "echo out; echo '  bad thing ' >&2; exit 1", nil, nil, false)
	var re *runner.RunError
	if err == nil || err.Error() != "bad thing" || !errors.As(err, &re) || re.Stdout != "out" {
		t.Errorf("%v", err)
	}
	if _, err := r.Run(context.Background(), "", "exit 2", nil, nil, false); err == nil || err.Error() != "exit status 2" {
		t.Errorf("%v", err)
	}
}

// "Start failures are *runner.Error values matching a sentinel
// (ErrCommandNotFound, ...) with their own text."
func TestGuideStartErrors(t *testing.T) {
	r := newExec(t)
	_, _, _, _, err := r.RunWithPipes(context.Background(), "rr-guide-no-such-command", nil, nil, nil)
	var rerr *runner.Error
	if !errors.Is(err, runner.ErrCommandNotFound) || !errors.As(err, &rerr) || !strings.Contains(err.Error(), "rr-guide-no-such-command") {
		t.Errorf("%v", err)
	}
	if strings.Contains(err.Error(), "failed to start command") {
		t.Errorf("old text: %v", err)
	}
}

// "Cancelling the context kills the whole tree; wait and Run return an
// error matching ctx.Err() (go-restricted-runner's wait returned
// "signal: killed")."
func TestGuideCancellation(t *testing.T) {
	r := newExec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	secs := uniqueSeconds()
	stdin, stdout, stderr, wait, err := r.RunWithPipes(ctx, "sh", []string{"-c", "sleep " + secs + " & sleep " + secs}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	io.Copy(io.Discard, stdout)
	io.Copy(io.Discard, stderr)
	err = wait()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait: %v", err)
	}
	if !waitFor(5*time.Second, func() bool { return len(pidsWithArg(secs)) == 0 }) {
		t.Errorf("the background sleep survived: %v", pidsWithArg(secs))
	}
	if err := wait(); !errors.Is(err, runner.ErrWaitCalled) {
		t.Errorf("second wait: %v", err)
	}
}

// "wait also ends what the command left running in its process group."
func TestGuideWaitEndsLeftovers(t *testing.T) {
	r := newExec(t)
	secs := uniqueSeconds()
	stdin, stdout, stderr, wait, err := r.RunWithPipes(context.Background(), "sh", []string{"-c", "sleep " + secs + " >/dev/null 2>&1 & echo started"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	io.Copy(io.Discard, stdout)
	io.Copy(io.Discard, stderr)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return len(pidsWithArg(secs)) == 0 }) {
		t.Errorf("the background sleep outlived wait: %v", pidsWithArg(secs))
	}
}

// "The streams of RunWithPipes are *os.File served by Go's poller:
// deadlines work."
func TestGuideStreamsAreFiles(t *testing.T) {
	r := newExec(t)
	stdin, stdout, stderr, wait, err := r.RunWithPipes(context.Background(), "cat", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, ok := stdout.(*os.File)
	if _, okIn := stdin.(*os.File); !ok || !okIn {
		t.Fatalf("streams are %T and %T", stdin, stdout)
	}
	out.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := out.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v", err)
	}
	stdin.Close()
	io.Copy(io.Discard, stderr)
	stdout.Close()
	stderr.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// "tmpfile is accepted and ignored: the command always runs as shell -c,
// so $0 is the shell."
func TestGuideTmpfileIgnored(t *testing.T) {
	r := newExec(t)
	for _, tmpfile := range []bool{false, true} {
		out, err := r.Run(context.Background(), "/bin/sh", "echo $0", nil, nil, tmpfile)
		if err != nil || out != "/bin/sh" {
			t.Errorf("tmpfile %v: %q, %v", tmpfile, out, err)
		}
	}
}

// "Every runner takes inherit_env (default true) and pass_env; with
// inherit_env false only the variables pass_env names reach the command."
func TestGuideEnvOptions(t *testing.T) {
	t.Setenv("RR_GUIDE_KEEP", "kept")
	t.Setenv("RR_GUIDE_OTHER", "other")
	t.Setenv("RR_SECRET", "secret")
	r, err := runner.NewExec(runner.Options{"inherit_env": false, "pass_env": []string{"RR_GUIDE_*", "PATH"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := mustRun(t, r, `echo "$RR_GUIDE_KEEP $RR_GUIDE_OTHER [$RR_SECRET] $RR_SPAWN"`, nil)
	if got != "kept other []" {
		t.Errorf("inherit_env false: %q", got)
	}
	out, err := r.Run(context.Background(), "/bin/sh", `echo "$RR_SPAWN"`, []string{"RR_SPAWN=given"}, nil, false)
	if err != nil || out != "given" {
		t.Errorf("the spawn's env on top: %q, %v", out, err)
	}
	def := newExec(t)
	if got := mustRun(t, def, `echo "$RR_SECRET"`, nil); got != "secret" {
		t.Errorf("default inherits: %q", got)
	}
}
