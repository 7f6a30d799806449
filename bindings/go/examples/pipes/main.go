// Command pipes shows both ways of running a command: Run for a one-shot
// shell command, RunWithPipes for a process you talk to. Usage:
//
//	go run ./examples/pipes [runner-type]
//
// runner-type defaults to exec; try firejail or landrun where installed.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
	"github.com/restricted-runner/restricted-runner/bindings/go/common"
)

func main() {
	kind := runner.TypeExec
	if len(os.Args) > 1 {
		kind = runner.Type(os.Args[1])
	}
	logger, err := common.NewLogger("example ", "", common.LogLevelInfo, false)
	if err != nil {
		log.Fatal(err)
	}
	options := runner.Options{}
	if kind == runner.TypeLandrun {
		// Landlock allows nothing that is not listed: the command needs
		// the system folders, to read and execute from.
		options["allow_read_exec_folders"] = []string{"/usr", "/bin", "/lib", "/lib64"}
		options["best_effort"] = true
	}
	r, err := runner.New(kind, options, logger)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	out, err := r.Run(ctx, "", "echo $GREETING from $(basename $0) | tr a-z A-Z", []string{"GREETING=hello"}, nil, false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Run:", out)

	stdin, stdout, stderr, wait, err := r.RunWithPipes(ctx, "cat", []string{"-n"}, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for _, line := range []string{"first line", "second line"} {
			fmt.Fprintln(stdin, line)
		}
		stdin.Close()
	}()
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		fmt.Println("cat said:", scanner.Text())
	}
	stdout.Close()
	errText, _ := io.ReadAll(stderr)
	stderr.Close()
	if err := wait(); err != nil {
		log.Fatalf("cat failed: %v (%s)", err, errText)
	}
}
