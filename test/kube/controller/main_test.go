// Package controller_test runs what hopseal's controller writes (trust
// bundle ConfigMaps, policy status, leader election) against a real
// kube-apiserver.
package controller_test

import (
	"os"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopKube()
	os.Exit(code)
}
