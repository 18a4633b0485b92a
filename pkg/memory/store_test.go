package memory_test

import (
	"testing"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/storetest"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) guard.Store { return memory.NewStore() })
}
