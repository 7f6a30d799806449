// Command cat is go-restricted-runner's RunWithPipes example, unchanged but
// for the import paths: lines written to cat and read back, then a command
// given an environment variable.
package main

import (
	"context"
	"fmt"
	"io"
	"log"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
	"github.com/restricted-runner/restricted-runner/bindings/go/common"
)

func main() {
	logger, _ := common.NewLogger("", "", common.LogLevelInfo, false)
	r, err := runner.New(runner.TypeExec, runner.Options{}, logger)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	stdin, stdout, stderr, wait, err := r.RunWithPipes(ctx, "cat", nil, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(stdin, "Hello from RunWithPipes!")
	fmt.Fprintln(stdin, "This is interactive communication.")
	stdin.Close()
	output, _ := io.ReadAll(stdout)
	errOutput, _ := io.ReadAll(stderr)
	if err := wait(); err != nil {
		log.Printf("Process error: %v", err)
	}
	fmt.Print(string(output))
	if len(errOutput) > 0 {
		fmt.Println("Errors:", string(errOutput))
	}

	stdin2, stdout2, stderr2, wait2, err := r.RunWithPipes(ctx,
		"sh", []string{"-c", `echo "TEST_VAR is: $TEST_VAR"`},
		[]string{"TEST_VAR=HelloWorld"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	stdin2.Close()
	output2, _ := io.ReadAll(stdout2)
	io.ReadAll(stderr2)
	if err := wait2(); err != nil {
		log.Printf("Process error: %v", err)
	}
	fmt.Print(string(output2))
}
