package testsupport

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// PostgresDSNEnv names the variable that points the tests at a PostgreSQL
// server (bot/store/testdata/with-postgres.sh sets it).
const PostgresDSNEnv = "CACHECK_TEST_POSTGRES_DSN"

// PostgresDSN returns the DSN of a schema of the test's own on the test
// server, dropped when the test ends, so that tests run in parallel and
// again and again on one server. Without a server the test is skipped,
// except in CI (CI set), which must test PostgreSQL.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresDSNEnv)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must test PostgreSQL (bash bot/store/testdata/with-postgres.sh go test ./...)", PostgresDSNEnv)
		}
		t.Skipf("%s is not set; skipping PostgreSQL (bash bot/store/testdata/with-postgres.sh go test ./...)", PostgresDSNEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresDSNEnv, err)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
