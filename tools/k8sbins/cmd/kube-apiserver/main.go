// Command kube-apiserver is upstream's kube-apiserver main, built from the Go module proxy
// for integration tests (see tools/k8sbins/README.md).
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
