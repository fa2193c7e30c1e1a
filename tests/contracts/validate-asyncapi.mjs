// SPDX-License-Identifier: MIT
// Validates docs/asyncapi.yaml with the AsyncAPI reference parser
// (@asyncapi/parser, what `asyncapi validate` runs): the AsyncAPI 3.0
// schema and the parser's built-in rules.  Every diagnostic is printed;
// errors and warnings both fail (exit 1), so the document stays clean.
import { readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const path = process.argv[2];
if (!path) {
  console.error('usage: node validate-asyncapi.mjs FILE');
  process.exit(2);
}
const parser = new Parser();
const diagnostics = await parser.validate(readFileSync(path, 'utf8'), { source: path });
const shown = diagnostics.filter((d) => d.severity <= DiagnosticSeverity.Warning);
for (const d of shown) {
  const where = d.path && d.path.length ? d.path.join('.') : '(document)';
  const line = d.range ? d.range.start.line + 1 : '?';
  const level = d.severity === DiagnosticSeverity.Error ? 'error' : 'warning';
  console.log(`${path}:${line}: ${level} ${d.code}: ${d.message} at ${where}`);
}
const other = diagnostics.length - shown.length;
console.log(`${path}: ${shown.length} problem(s)` + (other ? ` (${other} hint(s) not counted)` : ''));
process.exit(shown.length ? 1 : 0);
