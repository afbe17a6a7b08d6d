// Runs one SQL query in an in-memory DuckDB and prints its rows as a JSON
// array of objects (column name -> value) on stdout. The testbed's DuckDB
// helper (testbed/duckdb.go) calls it to read what the s3 exporter wrote.
//
//   node query.mjs "SELECT count(*) FROM read_parquet('/tmp/x/*.parquet')"
//
// Values are converted as @duckdb/node-api's getRowObjectsJson does: exact,
// so BIGINT, HUGEINT, DECIMAL, timestamps, dates and UUIDs are strings;
// smaller integers, FLOAT and DOUBLE are numbers (NaN and infinities are
// strings); LIST/ARRAY are arrays, STRUCT objects, MAP an array of
// {key, value}. A failing query prints DuckDB's message on stderr and exits 1.
import { DuckDBInstance } from '@duckdb/node-api';

const sql = process.argv[2];
if (process.argv.length !== 3 || !sql) {
  process.stderr.write('usage: node query.mjs SQL\n');
  process.exit(2);
}

try {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const reader = await connection.runAndReadAll(sql);
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()) + '\n');
  connection.closeSync();
  instance.closeSync();
} catch (err) {
  process.stderr.write(`${err.message ?? err}\n`);
  process.exit(1);
}
