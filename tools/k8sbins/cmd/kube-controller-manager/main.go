// Command kube-controller-manager is upstream's controller manager; tests run it with only the
// garbage-collector and namespace controllers so ownerReference cascades and namespace deletion are real.
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
