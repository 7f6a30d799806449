package runner_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

// pwdIn runs `sh -c 'pwd -P'` in dir and returns what it printed.
func pwdIn(t *testing.T, r *runner.Native, dir string) (string, error) {
	t.Helper()
	stdin, stdout, stderr, wait, err := r.RunWithPipesOptions(context.Background(), "sh", []string{"-c", "pwd -P"}, nil, nil, runner.SpawnOptions{Dir: dir})
	if err != nil {
		return "", err
	}
	stdin.Close()
	out, _ := io.ReadAll(stdout)
	msg, _ := io.ReadAll(stderr)
	stdout.Close()
	stderr.Close()
	if err := wait(); err != nil {
		t.Fatalf("wait: %v (stderr %q)", err, msg)
	}
	return strings.TrimSpace(string(out)), nil
}

func TestSpawnOptionsDir(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		kind runner.Type
		opts runner.Options
	}{
		{runner.TypeExec, nil},
		{runner.TypeLandrun, runner.Options{
			"allow_read_exec_folders": []string{"/usr", "/bin", "/lib", "/lib64"},
			"allow_read_folders":      []string{"/etc", dir},
		}},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			r, err := runner.NewNative(c.kind, c.opts, nil)
			if err != nil {
				t.Fatalf("NewNative: %v", err)
			}
			defer r.Close()
			got, err := pwdIn(t, r, dir)
			if err != nil || got != dir {
				t.Fatalf("started in %q (%v), want %q", got, err, dir)
			}
			// The zero value is RunWithPipes: the caller's current folder.
			here, _ := os.Getwd()
			here, _ = filepath.EvalSymlinks(here)
			if c.kind == runner.TypeExec {
				if got, err := pwdIn(t, r, ""); err != nil || got != here {
					t.Fatalf("zero SpawnOptions started in %q (%v), want %q", got, err, here)
				}
			}
			_, err = pwdIn(t, r, filepath.Join(dir, "missing"))
			if !errors.Is(err, runner.ErrSpawn) || !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("missing folder: %v, want ErrSpawn and fs.ErrNotExist", err)
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
				t.Fatalf("error %q does not name the folder", err)
			}
		})
	}
}
