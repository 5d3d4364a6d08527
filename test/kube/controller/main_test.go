// Package controller_test runs what hopseal's controller writes (trust
// bundle ConfigMaps, policy status, leader election) against a real
// kube-apiserver.
package controller_test

import (
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }
