package runner_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The programs under examples/ (go-restricted-runner's README and docs
// examples with only the import paths changed, its landrun example with
// the folders moved as the migration guide says, and this module's own)
// build and print what they should.
func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	bin := t.TempDir()
	build := exec.Command(goTool, "build", "-o", bin+"/", "./examples/...")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/...: %v\n%s", err, out)
	}
	landrun := []string{
		"Output: Hello from Landrun!",
		"File contents: This is a test file",
		"Output from interactive process:\nLine 1\nLine 2\nLine 3\n",
		"Output with template variable: Template variable test",
	}
	for _, tc := range []struct {
		name string
		args []string
		kind string
		want []string
	}{
		{name: "hello", want: []string{"Hello, World!\n"}},
		{name: "cat", want: []string{"Hello from RunWithPipes!\nThis is interactive communication.\nTEST_VAR is: HelloWorld\n"}},
		{name: "landrun", kind: "landrun", want: landrun},
		{name: "pipes", want: []string{"Run: HELLO FROM ", "cat said:      1\tfirst line", "cat said:      2\tsecond line"}},
		{name: "pipes", args: []string{"landrun"}, kind: "landrun", want: []string{"cat said:      2\tsecond line"}},
		{name: "pipes", args: []string{"firejail"}, kind: "firejail", want: []string{"cat said:      2\tsecond line"}},
	} {
		t.Run(strings.Join(append([]string{tc.name}, tc.args...), "-"), func(t *testing.T) {
			if tc.kind == "landrun" {
				needKind(t, "landrun")
			}
			if tc.kind == "firejail" {
				needKind(t, "firejail")
			}
			out, err := exec.Command(filepath.Join(bin, tc.name), tc.args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
