package common_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/restricted-runner/restricted-runner/bindings/go/common"
)

// The levels keep go-restricted-runner's numbers, so a level stored as a
// number or compared with >= means the same.
func TestLogLevelValues(t *testing.T) {
	for level, want := range map[common.LogLevel]int{
		common.LogLevelNone:  0,
		common.LogLevelError: 1,
		common.LogLevelInfo:  2,
		common.LogLevelDebug: 3,
	} {
		if int(level) != want {
			t.Errorf("level %d, want %d", level, want)
		}
	}
	if !(common.LogLevelDebug >= common.LogLevelInfo && common.LogLevelInfo >= common.LogLevelError && common.LogLevelError >= common.LogLevelNone) {
		t.Error("levels are not ordered None < Error < Info < Debug")
	}
	for s, want := range map[string]common.LogLevel{
		"debug": common.LogLevelDebug, "info": common.LogLevelInfo, "error": common.LogLevelError,
		"none": common.LogLevelNone, "warn": common.LogLevelInfo, "": common.LogLevelInfo, "DEBUG": common.LogLevelInfo,
	} {
		if got := common.LogLevelFromString(s); got != want {
			t.Errorf("LogLevelFromString(%q) = %d, want %d", s, got, want)
		}
	}
}

// captureStderr points os.Stderr at a file while f runs (NewLogger picks
// os.Stderr up when it is called) and returns what was written there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	tmp, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = tmp
	defer func() { os.Stderr = saved }()
	f()
	b, err := os.ReadFile(tmp.Name())
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	return string(b)
}

// logAll logs one message of each kind.
func logAll(l *common.Logger) {
	l.Debug("d %d", 1)
	l.Info("i %s", "x")
	l.Warn("w")
	l.Error("e")
}

// tags lists the tags of the lines in out, after checking each line's
// prefix, date, time and short file name.
func tags(t *testing.T, out, prefix string) []string {
	t.Helper()
	line := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `\d{4}/\d\d/\d\d \d\d:\d\d:\d\d [a-z_]+\.go:\d+: (\[[A-Z]+\]) .*$`)
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q lacks the prefix, date, time or file", l)
			continue
		}
		got = append(got, m[1])
	}
	return got
}

func TestLoggerLevelsAndOutputs(t *testing.T) {
	for _, tc := range []struct {
		level common.LogLevel
		want  []string
	}{
		{common.LogLevelNone, nil},
		{common.LogLevelError, []string{"[ERROR]"}},
		{common.LogLevelInfo, []string{"[INFO]", "[WARN]", "[ERROR]"}},
		{common.LogLevelDebug, []string{"[DEBUG]", "[INFO]", "[WARN]", "[ERROR]"}},
	} {
		out := captureStderr(t, func() {
			l, err := common.NewLogger("pfx: ", "", tc.level, false)
			if err != nil {
				t.Fatal(err)
			}
			if l.Level() != tc.level || l.FilePath() != "" {
				t.Errorf("Level %d, FilePath %q", l.Level(), l.FilePath())
			}
			logAll(l)
		})
		if got := tags(t, out, "pfx: "); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("level %d printed %v, want %v", tc.level, got, tc.want)
		}
	}
}

// With a file path the logger writes to stderr and to the file; truncate
// chooses between starting afresh and appending; at LogLevelNone no file
// is created.
func TestLoggerFileAndStderr(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.log")
	if err := os.WriteFile(path, []byte("old line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var l *common.Logger
	stderr := captureStderr(t, func() {
		var err error
		l, err = common.NewLogger("f: ", path, common.LogLevelDebug, false)
		if err != nil {
			t.Fatal(err)
		}
		if l.FilePath() != path {
			t.Errorf("FilePath %q", l.FilePath())
		}
		l.Info("to both")
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(file), "old line\n") {
		t.Errorf("appending lost the old content: %q", file)
	}
	for what, out := range map[string]string{"stderr": stderr, "file": strings.TrimPrefix(string(file), "old line\n")} {
		// Two debug lines announce the file, then the message.
		if got := tags(t, out, "f: "); strings.Join(got, " ") != "[DEBUG] [DEBUG] [INFO]" {
			t.Errorf("%s: %v in %q", what, got, out)
		}
		if !strings.Contains(out, "Logging initialized to file: "+path) || !strings.Contains(out, "[INFO] to both") {
			t.Errorf("%s: %q", what, out)
		}
	}

	captureStderr(t, func() {
		l, err := common.NewLogger("f: ", path, common.LogLevelError, true)
		if err != nil {
			t.Fatal(err)
		}
		l.Error("fresh")
		l.Close()
	})
	if file, _ := os.ReadFile(path); !regexp.MustCompile(`^f: .*\[ERROR\] fresh\n$`).Match(file) {
		t.Errorf("truncate: %q", file)
	}

	none := filepath.Join(t.TempDir(), "none.log")
	if out := captureStderr(t, func() {
		l, err := common.NewLogger("", none, common.LogLevelNone, false)
		if err != nil {
			t.Fatal(err)
		}
		logAll(l)
		l.Printf("even Printf")
	}); out != "" {
		t.Errorf("LogLevelNone wrote %q", out)
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Errorf("LogLevelNone created the file: %v", err)
	}
	if _, err := common.NewLogger("", filepath.Join(t.TempDir(), "no", "such", "dir"), common.LogLevelInfo, false); err == nil {
		t.Error("an unopenable log file was accepted")
	}
}

// The embedded *log.Logger is there (Printf, SetOutput, SetFlags), and
// SetLevel takes effect, also while other goroutines log.
func TestLoggerEmbeddedAndSetLevel(t *testing.T) {
	var l *common.Logger
	captureStderr(t, func() {
		var err error
		l, err = common.NewLogger("e: ", "", common.LogLevelError, false)
		if err != nil {
			t.Fatal(err)
		}
	})
	var buf bytes.Buffer
	l.SetOutput(&buf)
	l.SetFlags(0)
	l.Printf("plain %d", 7)
	l.Info("hidden")
	l.SetLevel(common.LogLevelInfo)
	if l.Level() != common.LogLevelInfo {
		t.Errorf("Level after SetLevel: %d", l.Level())
	}
	l.Info("shown")
	if got := buf.String(); got != "e: plain 7\ne: [INFO] shown\n" {
		t.Errorf("%q", got)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				if i == 0 {
					l.SetLevel(common.LogLevel(j % 4))
				} else {
					l.Debug("x")
					_ = l.Level()
				}
			}
		}(i)
	}
	wg.Wait()
	var nilLogger *common.Logger
	logAll(nilLogger)
	if nilLogger.Close() != nil || nilLogger.Level() != common.LogLevelNone || nilLogger.FilePath() != "" {
		t.Error("nil logger")
	}
}

// GetLogger defaults to stderr at LogLevelInfo with the "[mcpshell] "
// prefix; SetLogger replaces it, SetLogger(nil) restores the default.
func TestGetAndSetLogger(t *testing.T) {
	out := captureStderr(t, func() {
		l := common.GetLogger()
		if l.Level() != common.LogLevelInfo || l.Prefix() != "[mcpshell] " {
			t.Errorf("default: level %d, prefix %q", l.Level(), l.Prefix())
		}
		logAll(l)
	})
	if got := tags(t, out, "[mcpshell] "); strings.Join(got, " ") != "[INFO] [WARN] [ERROR]" {
		t.Errorf("default logger printed %v", got)
	}
	mine, err := common.NewLogger("mine ", "", common.LogLevelDebug, false)
	if err != nil {
		t.Fatal(err)
	}
	common.SetLogger(mine)
	defer common.SetLogger(nil)
	if common.GetLogger() != mine {
		t.Error("GetLogger does not return the logger set")
	}
	common.SetLogger(nil)
	if l := common.GetLogger(); l == mine || l.Prefix() != "[mcpshell] " {
		t.Error("SetLogger(nil) did not restore the default")
	}
}

func TestPrerequisites(t *testing.T) {
	if !common.CheckExecutableExists("sh") || common.CheckExecutableExists("rr-no-such-program") {
		t.Error("CheckExecutableExists")
	}
	if !common.CheckExecutableExists("/bin/sh") {
		t.Error("CheckExecutableExists with a path")
	}
	t.Setenv("PATH", t.TempDir())
	if common.CheckExecutableExists("sh") {
		t.Error("sh found with an empty PATH")
	}
	if !common.CheckOSMatches("") || !common.CheckOSMatches(runtime.GOOS) || common.CheckOSMatches("plan9-nope") {
		t.Error("CheckOSMatches")
	}
}

func TestProcessTemplate(t *testing.T) {
	args := map[string]interface{}{"workdir": "/srv/job", "name": "Ada"}
	for text, want := range map[string]string{
		"{{ .workdir }}/out":              "/srv/job/out",
		"{{ .missing }}x":                 "x",
		"{{ .name | upper }}":             "ADA",
		`{{ default "d" .missing }}`:      "d",
		"{{ .workdir | base }}":           "job",
		"no template":                     "no template",
		`{{ if .name }}yes{{ end }}`:      "yes",
		`{{ .missing | default "/tmp" }}`: "/tmp",
	} {
		got, err := common.ProcessTemplate(text, args)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", text, got, err, want)
		}
	}
	if _, err := common.ProcessTemplate("{{ .x", nil); err == nil {
		t.Error("unterminated action accepted")
	}
	if _, err := common.ProcessTemplate("{{ fail \"boom\" }}", nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("execution error: %v", err)
	}
	got := common.ProcessTemplateListFlexible([]string{"{{ .workdir }}", "{{ .x", "/plain"}, args)
	if strings.Join(got, ",") != "/srv/job,{{ .x,/plain" {
		t.Errorf("flexible: %q", got)
	}
	if got := common.ProcessTemplateListFlexible(nil, nil); got == nil || len(got) != 0 {
		t.Errorf("flexible of nil: %#v", got)
	}
}
