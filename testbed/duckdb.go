package testbed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// DuckDB runs sql in a fresh in-memory DuckDB and returns its rows, one map
// per row from column name to value. It is how the testbed reads what the
// s3 exporter writes (read_parquet, read_json, globs over a folder), with
// the engine people use on those files rather than the library that wrote
// them.
//
// DuckDB runs in Node (testbed/duckdb/query.mjs, @duckdb/node-api pinned by
// package-lock.json; no cgo here). The first call in a test process runs
// `npm ci` there when node_modules is missing or was left half-installed.
// Values are exact: BIGINT, HUGEINT, DECIMAL, timestamps, dates and UUIDs
// come back as strings, smaller integers and FLOAT/DOUBLE as float64 (cast
// in SQL to choose, e.g. count(*)::INTEGER), NULL as nil, LIST as []any,
// STRUCT as map[string]any. A failing query fails the test with DuckDB's
// message.
func DuckDB(t testing.TB, sql string) []map[string]any {
	t.Helper()
	rows, err := QueryDuckDB(RepoRoot(t), sql)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// QueryDuckDB is DuckDB returning the error (DuckDB's message for a bad
// query) instead of failing a test; root is the repository root.
func QueryDuckDB(root, sql string) ([]map[string]any, error) {
	dir := filepath.Join(root, "testbed", "duckdb")
	if err := duckDBInstall(dir); err != nil {
		return nil, err
	}
	cmd := exec.Command("node", "query.mjs", sql)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("duckdb: %s\n%w: %s", sql, err, stderr.String())
	}
	var rows []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		return nil, fmt.Errorf("duckdb: %s: decoding its output: %w\n%s", sql, err, stdout.String())
	}
	return rows, nil
}

var (
	duckDBMu        sync.Mutex
	duckDBInstalled bool
)

// duckDBInstall runs `npm ci` in dir unless node_modules is complete. npm
// writes node_modules/.package-lock.json last, so its presence marks an
// install that finished.
func duckDBInstall(dir string) error {
	duckDBMu.Lock()
	defer duckDBMu.Unlock()
	if duckDBInstalled {
		return nil
	}
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("duckdb: node is not installed (Node.js 20 or later runs testbed/duckdb)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("duckdb: npm ci in %s: %w\n%s", dir, err, out)
		}
	}
	duckDBInstalled = true
	return nil
}
