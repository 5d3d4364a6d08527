//go:build ignore

// build-kube builds kube-apiserver and etcd for the Kubernetes tests, or finds
// them in the cache, and prints their directory. scripts/build-kube.sh runs it.
package main

import (
	"fmt"
	"os"

	"github.com/hopseal/hopseal/internal/testenv"
)

func main() {
	dir, err := testenv.KubeBinaries(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-kube:", err)
		os.Exit(1)
	}
	fmt.Println(dir)
}
