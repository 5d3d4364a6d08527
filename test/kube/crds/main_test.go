// Package crds_test checks hopseal's CustomResourceDefinitions against a real
// kube-apiserver: they install and become Established, admit every valid
// shape, reject nonsense with the messages the CRDs promise, show printer
// columns, keep status apart from spec, carry descriptions for
// `kubectl explain`, and admit the shipped examples.
package crds_test

import (
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }
