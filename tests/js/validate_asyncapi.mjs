// Validates an AsyncAPI document with the official parser (@asyncapi/parser).
//
// Usage: node validate_asyncapi.mjs <document.json>
// Prints one JSON object: {"valid", "errors", "diagnostics": [{"severity", "code", "message", "path"}]}.
// Exit status: 0 valid (warnings allowed), 1 the parser reported an error, 2 unusable arguments or file.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "information", "hint"];

async function main(path) {
  if (!path) {
    console.error("usage: node validate_asyncapi.mjs <document.json>");
    return 2;
  }
  let text;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    console.error(`cannot read ${path}: ${err.message}`);
    return 2;
  }
  const { document, diagnostics } = await new Parser().parse(text, { source: path });
  const found = diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] ?? String(d.severity),
    code: String(d.code),
    message: d.message,
    path: d.path.join("/"),
  }));
  const errors = found.filter((d) => d.severity === "error").length;
  // The parser returns no document when it found an error; count that as one even without a diagnostic.
  const valid = document !== undefined && errors === 0;
  console.log(JSON.stringify({ valid, errors, diagnostics: found }));
  return valid ? 0 : 1;
}

process.exitCode = await main(process.argv[2]);
