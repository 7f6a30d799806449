// Command hello is the first example of go-restricted-runner's README,
// unchanged but for the import paths: a logger, an exec runner from New,
// and Run with a shell command.
package main

import (
	"context"
	"fmt"
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
	output, err := r.Run(ctx, "sh", "echo 'Hello, World!'", nil, nil, false)
	if err != nil {
		log.Fatal(err)
	}

	fmt.Println(output)
}
