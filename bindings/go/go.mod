module github.com/restricted-runner/restricted-runner/bindings/go

go 1.24
