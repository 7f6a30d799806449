// Command landrun is go-restricted-runner's landrun example with the
// system folders moved to allow_read_exec_folders, as
// docs/migrating-from-go-restricted-runner.md says (here "read" folders do
// not allow execution): a basic command, a file read under filesystem
// rules, an interactive cat, and a folder given through a param.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
	"github.com/restricted-runner/restricted-runner/bindings/go/common"
)

// systemFolders hold the programs and the libraries they load.
var systemFolders = []string{"/usr", "/lib", "/lib64", "/usr/bin", "/bin"}

func main() {
	logger, err := common.NewLogger("", "", common.LogLevelInfo, false)
	if err != nil {
		log.Fatalf("Failed to create logger: %v", err)
	}
	defer logger.Close()

	fmt.Println("Example 1: basic command, unrestricted")
	basic(logger)
	fmt.Println("Example 2: filesystem restrictions")
	restricted(logger)
	fmt.Println("Example 3: interactive process")
	interactive(logger)
	fmt.Println("Example 4: a folder from a param")
	templated(logger)
}

func basic(logger *common.Logger) {
	r, err := runner.New(runner.TypeLandrun, runner.Options{
		"unrestricted_filesystem": true,
		"allow_networking":        true,
		"best_effort":             true,
	}, logger)
	if err != nil {
		log.Fatalf("Failed to create Landrun runner: %v", err)
	}
	out, err := r.Run(context.Background(), "sh", "echo 'Hello from Landrun!'", nil, nil, false)
	if err != nil {
		log.Fatalf("Run failed: %v", err)
	}
	fmt.Printf("Output: %s\n", out)
}

func restricted(logger *common.Logger) {
	dir, err := os.MkdirTemp("", "landrun-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "test.txt")
	if err := os.WriteFile(file, []byte("This is a test file"), 0o644); err != nil {
		log.Fatal(err)
	}
	r, err := runner.New(runner.TypeLandrun, runner.Options{
		"allow_read_folders":      []string{dir},
		"allow_read_exec_folders": systemFolders,
		"best_effort":             true,
	}, logger)
	if err != nil {
		log.Fatalf("Failed to create Landrun runner: %v", err)
	}
	out, err := r.Run(context.Background(), "sh", "cat "+file, nil, nil, false)
	if err != nil {
		log.Fatalf("Run failed: %v", err)
	}
	fmt.Printf("File contents: %s\n", out)
}

func interactive(logger *common.Logger) {
	r, err := runner.New(runner.TypeLandrun, runner.Options{
		"unrestricted_filesystem": true,
		"allow_networking":        true,
		"best_effort":             true,
	}, logger)
	if err != nil {
		log.Fatalf("Failed to create Landrun runner: %v", err)
	}
	stdin, stdout, stderr, wait, err := r.RunWithPipes(context.Background(), "cat", nil, nil, nil)
	if err != nil {
		log.Fatalf("RunWithPipes failed: %v", err)
	}
	fmt.Fprintln(stdin, "Line 1")
	fmt.Fprintln(stdin, "Line 2")
	fmt.Fprintln(stdin, "Line 3")
	stdin.Close()
	out, err := io.ReadAll(stdout)
	if err != nil {
		log.Fatalf("Failed to read from stdout: %v", err)
	}
	io.ReadAll(stderr)
	if err := wait(); err != nil {
		log.Fatalf("Command failed: %v", err)
	}
	fmt.Printf("Output from interactive process:\n%s", out)
}

func templated(logger *common.Logger) {
	dir, err := os.MkdirTemp("", "landrun-template-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	r, err := runner.New(runner.TypeLandrun, runner.Options{
		"allow_read_folders":      []string{"{{.workdir}}"},
		"allow_read_exec_folders": systemFolders,
		"best_effort":             true,
	}, logger)
	if err != nil {
		log.Fatalf("Failed to create Landrun runner: %v", err)
	}
	file := filepath.Join(dir, "template-test.txt")
	if err := os.WriteFile(file, []byte("Template variable test"), 0o644); err != nil {
		log.Fatal(err)
	}
	params := map[string]interface{}{"workdir": dir}
	out, err := r.Run(context.Background(), "sh", "cat "+file, nil, params, false)
	if err != nil {
		log.Fatalf("Run failed: %v", err)
	}
	fmt.Printf("Output with template variable: %s\n", out)
}
